"""Outbox.add: only declared topics, and writers of one aggregate serialised by the database."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from kommune.db import transaction
from kommune.events.outbox import DomainEvent, Outbox, UndeclaredTopicError, declare_outbox_topics
from kommune.testing.conditions import wait_until

from .conftest import TEST_SOURCE

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent


async def test_an_undeclared_topic_is_refused_and_nothing_is_written(events_db: EventsDb) -> None:
    declare_outbox_topics(TEST_SOURCE, ["things.thing.v1"])
    typo = DomainEvent(
        topic="things.thign.v1",
        type="de.kommune.test.thing.changed.v1",
        aggregate_type="thing",
        aggregate_id="t-1",
        data={},
    )
    before = await events_db.scalar("SELECT count(*) FROM outbox")
    with pytest.raises(UndeclaredTopicError, match=r"things\.thign\.v1"):
        await events_db.add_events(typo)
    assert await events_db.scalar("SELECT count(*) FROM outbox") == before


async def test_a_source_that_declared_nothing_writes_nothing(events_db: EventsDb) -> None:
    event = DomainEvent(
        topic="things.thing.v1",
        type="de.kommune.test.thing.changed.v1",
        aggregate_type="thing",
        aggregate_id="t-2",
        data={},
    )
    with pytest.raises(UndeclaredTopicError, match="none"):
        await events_db.add_events(event, source=f"/nobody-{uuid.uuid4().hex[:6]}")


async def test_writers_of_one_aggregate_wait_for_each_other_others_do_not(
    events_db: EventsDb, make_event: MakeEvent
) -> None:
    """seq order is commit order per aggregate, without the service taking any lock itself."""
    topic = "outbox.lock.v1"
    aggregate, other = f"agg-{uuid.uuid4().hex[:8]}", f"agg-{uuid.uuid4().hex[:8]}"
    first, second = make_event(topic, aggregate, {"n": 1}), make_event(topic, aggregate, {"n": 2})
    unrelated = make_event(topic, other, {"n": 0})

    async with events_db.sessionmaker() as tx1:
        await Outbox(tx1, TEST_SOURCE).add(first)  # holds the aggregate's lock until commit

        async def second_writer() -> None:
            async with transaction(events_db.sessionmaker) as tx2:
                await Outbox(tx2, TEST_SOURCE).add(second)

        waiting = asyncio.create_task(second_writer())
        try:
            await wait_until(lambda: _waiting_on_advisory_lock(events_db))
            assert not waiting.done()
            # Another aggregate is not held up by it.
            await asyncio.wait_for(events_db.add_events(unrelated), 10)
            await tx1.commit()
            await asyncio.wait_for(waiting, 10)
        finally:
            waiting.cancel()
    first_seq = await events_db.scalar("SELECT seq FROM outbox WHERE id = :id", id=first.id)
    second_seq = await events_db.scalar("SELECT seq FROM outbox WHERE id = :id", id=second.id)
    assert first_seq < second_seq  # the relay publishes them in the order they committed


async def _waiting_on_advisory_lock(db: EventsDb) -> bool:
    async with db.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        )
    return bool(waiting)
