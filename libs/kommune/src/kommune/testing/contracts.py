"""Pytest plugin: every event a service emits in its tests is checked against its contract.

Registered for the whole repository in the root ``conftest.py``. Two fixtures:

``assert_event_valid(event_type, payload)``
    fails the test unless ``payload`` matches ``schemas/events/<service>/<event_type>.json``.

``await assert_outbox_valid(database_url) -> int``
    reads *every* row of that database's ``outbox`` table and checks it: the payload against the
    schema of the row's ``type``, the ``headers`` as a CloudEvents 1.0 binary-mode envelope
    (``ce_*`` present, ``ce_type`` = ``type``, ``ce_id`` = ``id``, ``ce_dataschema`` = the
    schema's ``$id``, ``ce_specversion`` 1.0, ``ce_time`` RFC 3339 with offset) and ``topic``
    (where the table has it) against the type's topic. It returns how many rows it checked and
    fails listing every bad row. Service suites call it when a test's database is torn down::

        @pytest_asyncio.fixture(loop_scope="session")
        async def database_url(create_database, assert_outbox_valid):
            url = await create_database("ideas")
            ...  # migrate
            yield url
            await assert_outbox_valid(url)

The checks themselves are :func:`outbox_problems` and :class:`kommune_schemas.SchemaRegistry`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from kommune.db import sqlalchemy_url
from kommune_schemas import EventContractError, SchemaRegistry, default_registry

AssertEventValid = Callable[[str, Mapping[str, Any] | BaseModel], None]
AssertOutboxValid = Callable[[str], Awaitable[int]]

_MAX_REPORTED_ROWS = 20


def check_event(
    event_type: str,
    payload: Mapping[str, Any] | BaseModel,
    registry: SchemaRegistry | None = None,
) -> None:
    """Raise ``AssertionError`` explaining every violation unless the payload is valid."""
    try:
        (registry or default_registry()).validate(event_type, payload)
    except EventContractError as exc:
        raise AssertionError(str(exc)) from exc


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def row_problems(row: Mapping[str, Any], registry: SchemaRegistry) -> list[str]:
    """Every way one ``outbox`` row breaks its contract (empty when it keeps it)."""
    event_type = str(row.get("type"))
    try:
        entry = registry.get(event_type)
    except EventContractError as exc:
        return [str(exc)]
    payload = _as_json(row.get("payload"))
    headers = _as_json(row.get("headers"))
    found: list[str] = []
    if not isinstance(payload, Mapping):
        found.append(f"payload: expected a JSON object, got {type(payload).__name__}")
    else:
        found.extend(f"payload {error}" for error in registry.errors(event_type, payload))
    if not isinstance(headers, Mapping):
        found.append(f"headers: expected a JSON object, got {type(headers).__name__}")
    else:
        found.extend(f"headers {error}" for error in registry.header_errors(event_type, headers))
        if "ce_id" in headers and str(headers["ce_id"]) != str(row.get("id")):
            found.append(f"headers $.ce_id: {headers['ce_id']!r} is not the row id {row['id']}")
    topic = row.get("topic")
    if topic is not None and topic != entry.topic:
        found.append(f"topic: {topic!r} is not {entry.topic!r}, the topic of {event_type}")
    return found


@dataclass(frozen=True, slots=True)
class OutboxReport:
    checked: int
    """Rows read (0 when the database has no ``outbox`` table)."""
    bad: int
    """Rows that break their contract."""
    problems: list[str]
    """What is wrong, row by row (the first 20 bad rows)."""


async def outbox_problems(
    database_url: str, registry: SchemaRegistry | None = None
) -> OutboxReport:
    """Check every row of ``database_url``'s ``outbox`` table."""
    registry = registry or default_registry()
    engine = create_async_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('outbox') IS NOT NULL"))
            if not exists:
                return OutboxReport(0, 0, [])
            result = await connection.execute(text("SELECT * FROM outbox"))
            rows = [dict(row) for row in result.mappings()]
    finally:
        await engine.dispose()
    rows.sort(key=lambda row: (row.get("seq") or 0, str(row.get("created_at")), str(row["id"])))
    problems: list[str] = []
    bad_rows = 0
    for row in rows:
        found = row_problems(row, registry)
        if not found:
            continue
        bad_rows += 1
        if bad_rows <= _MAX_REPORTED_ROWS:
            problems.append(f"outbox row {row.get('id')} ({row.get('type')}):")
            problems.extend(f"    {problem}" for problem in found)
    if bad_rows > _MAX_REPORTED_ROWS:
        problems.append(f"... and {bad_rows - _MAX_REPORTED_ROWS} more bad rows")
    return OutboxReport(len(rows), bad_rows, problems)


async def check_outbox(database_url: str, registry: SchemaRegistry | None = None) -> int:
    """Raise ``AssertionError`` listing every bad row; return how many rows were checked."""
    report = await outbox_problems(database_url, registry)
    if report.bad:
        raise AssertionError(
            f"{report.bad} of {report.checked} outbox events break their contract "
            "(see schemas/events and docs/events.md):\n" + "\n".join(report.problems)
        )
    return report.checked


@pytest.fixture
def assert_event_valid() -> AssertEventValid:
    """``assert_event_valid(event_type, payload)``: fails unless the payload keeps its schema."""

    def check(event_type: str, payload: Mapping[str, Any] | BaseModel) -> None:
        check_event(event_type, payload)

    return check


@pytest.fixture
def assert_outbox_valid() -> AssertOutboxValid:
    """``await assert_outbox_valid(database_url) -> rows checked``; fails on any bad row."""
    return check_outbox
