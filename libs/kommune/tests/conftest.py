"""Fixtures of the events tests: a fresh database with outbox, inbox and an effects table."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kommune.db import Base, asyncpg_dsn, create_engine, create_sessionmaker, transaction
from kommune.events.inbox import InboxMessage
from kommune.events.outbox import DomainEvent, Outbox, OutboxMessage
from kommune.testing.infra import CreateDatabase


@dataclass
class EventsDb:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.url)

    async def add_events(self, *events: DomainEvent, source: str = "/test") -> None:
        """Write events to the outbox in one committed transaction."""
        async with transaction(self.sessionmaker) as session:
            outbox = Outbox(session, source)
            for event in events:
                await outbox.add(event)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def effects(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT event_id, data FROM effects ORDER BY id"))
            return [{"event_id": r[0], "data": json.loads(r[1])} for r in rows]


@pytest_asyncio.fixture(loop_scope="session")
async def events_db(create_database: CreateDatabase) -> AsyncIterator[EventsDb]:
    url = await create_database("kommune_events")
    engine = create_engine(url, pool_size=5, application_name="kommune-events-tests")
    async with engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all,
            tables=[
                Base.metadata.tables[model.__tablename__] for model in (OutboxMessage, InboxMessage)
            ],
        )
        # What a consumer's handler does to the world: no unique key, so a second effect shows.
        await conn.execute(
            text("CREATE TABLE effects (id bigserial PRIMARY KEY, event_id text, data text)")
        )
    try:
        yield EventsDb(url, engine, create_sessionmaker(engine))
    finally:
        await engine.dispose()


def _event(
    topic: str,
    aggregate_id: str,
    data: dict[str, Any] | None = None,
    *,
    type_: str = "de.kommune.test.thing.changed.v1",
) -> DomainEvent:
    return DomainEvent(
        topic=topic,
        type=type_,
        aggregate_type="thing",
        aggregate_id=aggregate_id,
        data=data or {},
    )


MakeEvent = Callable[..., DomainEvent]


@pytest.fixture
def make_event() -> MakeEvent:
    """``make_event(topic, aggregate_id, data, type_=...)`` -> a DomainEvent."""
    return _event
