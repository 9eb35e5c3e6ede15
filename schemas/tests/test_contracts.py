"""The contract fixtures of ``kommune.testing.contracts`` against a real PostgreSQL outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from kommune.db import create_sessionmaker, transaction
from kommune.events.outbox import DomainEvent, Outbox, OutboxMessage, declare_outbox_topics
from kommune.testing.contracts import check_event, check_outbox, outbox_problems
from kommune_schemas import SchemaRegistry

CREATED = "de.kommune.demo.thing.created.v1"
ARCHIVED = "de.kommune.demo.thing.archived.v1"


def test_assert_event_valid_fails_with_every_problem(demo_registry: SchemaRegistry) -> None:
    example = demo_registry.get(CREATED).examples[0]
    check_event(CREATED, example, demo_registry)
    with pytest.raises(AssertionError, match=r"\$\.status: 'gone' is not one of"):
        check_event(CREATED, {**example, "status": "gone"}, demo_registry)


def test_the_fixture_uses_the_shipped_schemas(
    assert_event_valid: Callable[[str, dict[str, Any]], None],
) -> None:
    with pytest.raises(AssertionError, match="unknown event type"):
        assert_event_valid("de.kommune.demo.thing.created.v1", {})


async def _outbox_database(create_database: Callable[[str], Awaitable[str]]) -> str:
    url = await create_database("contracts")
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            table = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]
            await connection.run_sync(table.create)
    finally:
        await engine.dispose()
    return url


async def _emit(url: str, events: list[DomainEvent]) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        declare_outbox_topics("/kommune/demo", {event.topic for event in events})
        async with transaction(create_sessionmaker(engine)) as session:
            outbox = Outbox(session, "/kommune/demo")
            for event in events:
                await outbox.add(event)
    finally:
        await engine.dispose()


def _created(demo_registry: SchemaRegistry, **changes: Any) -> DomainEvent:
    data = {**demo_registry.get(CREATED).examples[0], **changes}
    return DomainEvent(
        topic="demo.thing.v1",
        type=CREATED,
        aggregate_type="thing",
        aggregate_id=data["thing_id"],
        data=data,
        time=datetime.now(timezone(timedelta(hours=1))),
    )


async def test_events_written_through_the_outbox_pass(
    create_database: Callable[[str], Awaitable[str]], demo_registry: SchemaRegistry
) -> None:
    url = await _outbox_database(create_database)
    thing = str(uuid.uuid4())
    await _emit(
        url,
        [
            _created(demo_registry, thing_id=thing),
            DomainEvent("demo.thing.v1", ARCHIVED, "thing", thing, {"thing_id": thing}),
        ],
    )
    assert await check_outbox(url, demo_registry) == 2


async def test_every_bad_row_is_reported(
    create_database: Callable[[str], Awaitable[str]], demo_registry: SchemaRegistry
) -> None:
    url = await _outbox_database(create_database)
    good = _created(demo_registry)
    bad_payload = _created(demo_registry, status="gone")
    wrong_topic = DomainEvent(
        "demo.things.v1", ARCHIVED, "thing", "x", {"thing_id": str(uuid.uuid4())}
    )
    unknown = DomainEvent("demo.thing.v1", "de.kommune.demo.thing.lost.v1", "thing", "x", {})
    naive_time = _created(demo_registry)
    await _emit(url, [good, bad_payload, wrong_topic, unknown, naive_time])

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == naive_time.id)
                .values(
                    headers=text(
                        "headers || jsonb_build_object('ce_time', '2026-03-02T09:30:00', "
                        "'ce_type', 'de.kommune.demo.thing.archived.v1')"
                    )
                )
            )
    finally:
        await engine.dispose()

    report = await outbox_problems(url, demo_registry)
    assert (report.checked, report.bad) == (5, 4)
    text_report = "\n".join(report.problems)
    assert f"outbox row {good.id}" not in text_report
    assert f"outbox row {bad_payload.id} ({CREATED}):" in text_report
    assert "payload $.status: 'gone' is not one of ['draft', 'open']" in text_report
    assert "topic: 'demo.things.v1' is not 'demo.thing.v1'" in text_report
    assert "unknown event type 'de.kommune.demo.thing.lost.v1'" in text_report
    assert "headers $.ce_time: '2026-03-02T09:30:00' is not a 'date-time'" in text_report
    assert f"headers $.ce_type: '{ARCHIVED}' is not '{CREATED}'" in text_report

    with pytest.raises(AssertionError, match="4 of 5 outbox events break their contract"):
        await check_outbox(url, demo_registry)


async def test_a_database_without_outbox_has_nothing_to_check(
    create_database: Callable[[str], Awaitable[str]],
    assert_outbox_valid: Callable[[str], Awaitable[int]],
) -> None:
    url = await create_database("contracts")
    assert await assert_outbox_valid(url) == 0
    url = await _outbox_database(create_database)
    assert await assert_outbox_valid(url) == 0
