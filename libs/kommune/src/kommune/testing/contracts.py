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

The relay deletes a row once Kafka has it, so a suite whose app runs the relay first calls
:func:`record_outbox`: from then on every row written to ``outbox`` is also kept in
``recorded.outbox`` (a trigger, in the same transaction: a rolled-back event is not recorded
either). The contract check reads that record, and tests ask it what a request wrote
(``SELECT type FROM recorded.outbox WHERE aggregateid = :id``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import TextClause, text
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


RECORDED_OUTBOX = "recorded.outbox"
"""Where :func:`record_outbox` keeps a copy of every outbox row written."""

_RECORD_OUTBOX = (
    "CREATE SCHEMA IF NOT EXISTS recorded",
    f"CREATE TABLE IF NOT EXISTS {RECORDED_OUTBOX} (LIKE outbox)",
    "CREATE OR REPLACE FUNCTION recorded.copy_outbox_row() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN INSERT INTO {RECORDED_OUTBOX} SELECT (NEW).*; "
    "RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER record_outbox AFTER INSERT ON outbox "
    "FOR EACH ROW EXECUTE FUNCTION recorded.copy_outbox_row()",
)


async def record_outbox(database_url: str) -> None:
    """Keep a copy of every row written to the (migrated) ``outbox`` in ``recorded.outbox``.

    Test instrumentation: the relay deletes rows once sent, but a suite still wants to check
    every event its service wrote and ask what a request wrote. (In its own schema, so the
    migrations-match-the-models comparison of the ``public`` schema does not see it.)
    """
    engine = create_async_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            for statement in _RECORD_OUTBOX:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@dataclass(frozen=True, slots=True)
class _Rows:
    name: str
    query: TextClause


_WRITTEN_ROWS = (
    _Rows(RECORDED_OUTBOX, text(f"SELECT * FROM {RECORDED_OUTBOX}")),  # noqa: S608 (a constant)
    _Rows("outbox", text("SELECT * FROM outbox")),
)
"""Where the rows written to the outbox are: the record where there is one."""


async def outbox_problems(
    database_url: str, registry: SchemaRegistry | None = None
) -> OutboxReport:
    """Check every row written to ``database_url``'s outbox: the record of
    :func:`record_outbox` where there is one, else the ``outbox`` table itself."""
    registry = registry or default_registry()
    engine = create_async_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for candidate in _WRITTEN_ROWS:
                if await connection.scalar(
                    text("SELECT to_regclass(:t) IS NOT NULL"), {"t": candidate.name}
                ):
                    result = await connection.execute(candidate.query)
                    break
            else:
                return OutboxReport(0, 0, [])
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
