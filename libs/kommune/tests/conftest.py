"""Fixtures of the events tests: a fresh database with outbox, inbox and an effects table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kommune.db import asyncpg_dsn, create_engine, create_sessionmaker, new_metadata, transaction
from kommune.events.outbox import DomainEvent, Outbox, declare_outbox_topics
from kommune.events.tables import add_event_tables
from kommune.testing.infra import CreateDatabase, LocalKafka, repo_root

TEST_SOURCE = "/test"
"""The CloudEvents source of the events tests; ``make_event`` declares its topics for it."""


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
    metadata = new_metadata()  # what a service's metadata holds of the event tables
    add_event_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
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
    declare_outbox_topics(TEST_SOURCE, [topic])  # as a service declares its topics
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


class PausedBroker:
    """Freezes the worktree's own broker process (SIGSTOP): connections stay open, nothing
    answers, exactly like a broker stuck mid-request. Always resumed (SIGCONT) by the fixture.

    Keep pauses short (a few seconds): the single KRaft node fences itself after its session
    timeout (9 s) and then needs a moment to come back.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.paused = False

    def pause(self, deadline: float = 5.0) -> None:
        """Stop the broker and return once every one of its threads has stopped.

        ``kill`` only asks: on a busy machine a broker thread already running went on to
        acknowledge a record 9 ms after ``SIGSTOP`` was sent (1 run in 12), so wait for the
        kernel to report each thread as stopped (state ``T`` in ``/proc``).
        """
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True
        until = time.monotonic() + deadline
        while not self._all_threads_stopped():
            if time.monotonic() > until:
                raise TimeoutError(f"broker {self.pid} not stopped within {deadline}s")
            time.sleep(0.001)

    def _all_threads_stopped(self) -> bool:
        states = []
        for stat in Path(f"/proc/{self.pid}/task").glob("*/stat"):
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                # "tid (comm) state ...": comm may contain spaces and parentheses.
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        return bool(states) and all(state in {"T", "t"} for state in states)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False


@pytest_asyncio.fixture(loop_scope="session")
async def paused_broker(
    local_kafka: LocalKafka, kafka_bootstrap_servers: str
) -> AsyncIterator[PausedBroker]:
    """Control of the local broker's process; skips unless the session uses the local broker."""
    pid_file = repo_root() / ".run" / "kafka" / "kafka.pid"
    broker = PausedBroker(int(pid_file.read_text().strip()))
    try:
        yield broker
    finally:
        broker.resume()  # always, whatever the test did
        await wait_for_broker(kafka_bootstrap_servers)


async def wait_for_broker(bootstrap_servers: str, deadline: float = 60.0) -> None:
    """Wait until the broker answers metadata again (after a pause), or fail after ``deadline``."""
    from aiokafka.client import AIOKafkaClient

    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while True:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            if metadata.brokers():
                return
        except Exception:
            if loop.time() > until:
                raise
        finally:
            await client.close()
        await asyncio.sleep(0.2)  # a retry interval, not synchronisation
