"""The inbox claim: the first delivery of an event wins, every later one is told it is a repeat."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from kommune.db import transaction
from kommune.events.inbox import claim, prune
from kommune.testing.conditions import wait_until

if TYPE_CHECKING:
    from .conftest import EventsDb


async def test_claim_is_true_once_per_group(events_db: EventsDb) -> None:
    async with transaction(events_db.sessionmaker) as session:
        assert await claim(session, "g1", "e1", event_type="t", topic="x", partition=0, offset=5)
        assert not await claim(session, "g1", "e1")
        assert await claim(session, "g2", "e1")  # another group applies it independently
    async with transaction(events_db.sessionmaker) as session:
        assert not await claim(session, "g1", "e1")
    row = await events_db.scalar(
        "SELECT json_build_object('type', event_type, 'topic', topic, 'offset', \"offset\") "
        "FROM inbox WHERE consumer_group = 'g1'"
    )
    assert row == {"type": "t", "topic": "x", "offset": 5}


async def test_rolled_back_claim_leaves_no_trace(events_db: EventsDb) -> None:
    async with events_db.sessionmaker() as session:
        assert await claim(session, "g", "rolled-back")
        await session.rollback()
    async with transaction(events_db.sessionmaker) as session:
        assert await claim(session, "g", "rolled-back")


async def test_concurrent_claims_have_one_winner(events_db: EventsDb) -> None:
    """Two members of a group after a rebalance: the second waits for the first, then loses."""
    async with events_db.sessionmaker() as first:
        assert await claim(first, "g", "raced")  # holds the row until it commits

        async def second() -> bool:
            async with transaction(events_db.sessionmaker) as session:
                return await claim(session, "g", "raced")

        racing = asyncio.create_task(second())
        try:
            await wait_until(lambda: _waiting_for_a_row_lock(events_db))
            assert not racing.done()
            await first.commit()
            assert await asyncio.wait_for(racing, 10) is False
        finally:
            racing.cancel()


async def _waiting_for_a_row_lock(db: EventsDb) -> bool:
    async with db.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            )
        )
    return bool(waiting)


async def test_prune_forgets_only_old_rows_of_the_group(events_db: EventsDb) -> None:
    async with transaction(events_db.sessionmaker) as session:
        for event_id in ("old", "new"):
            await claim(session, "g", event_id)
        await claim(session, "other", "old")
        await session.execute(
            text("UPDATE inbox SET received_at = now() - interval '40 days' WHERE event_id = 'old'")
        )
    async with transaction(events_db.sessionmaker) as session:
        assert await prune(session, "g", timedelta(days=30)) == 1
    remaining = await events_db.scalar(
        "SELECT array_agg(consumer_group || ':' || event_id ORDER BY 1) FROM inbox"
    )
    assert sorted(remaining) == ["g:new", "other:old"]
