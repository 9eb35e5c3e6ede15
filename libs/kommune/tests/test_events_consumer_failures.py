"""Consumers you can trust: what counts as transient, blocking vs dead-lettering, a group's own
dead-letter topic and its re-drive, inbox retention, revoked partitions. Real Kafka, real
PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events import admin
from kommune.events.consumer import (
    ConsumerRunner,
    ConsumerSpec,
    check_inbox_retention,
    is_transient_infrastructure_error,
)
from kommune.events.envelope import ReceivedEvent, encode_headers
from kommune.events.topics import DAY_MS, TopicSpec, dead_letter_topic, ensure_topics
from kommune.testing.conditions import wait_until
from kommune.testing.infra import delete_topics, kafka_events, unique_group

if TYPE_CHECKING:
    from .conftest import EventsDb

TYPE = "de.kommune.test.thing.changed.v1"
Handler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]


def _headers(event_id: str) -> list[tuple[str, bytes]]:
    return encode_headers(
        {
            "ce_specversion": "1.0",
            "ce_id": event_id,
            "ce_source": "/test",
            "ce_type": TYPE,
            "content-type": "application/json",
        }
    )


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[str, dict[str, Any]]], partition: int = 0
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for event_id, data in records:
            await producer.send_and_wait(
                topic,
                json.dumps(data).encode(),
                key=b"k",
                headers=_headers(event_id),
                partition=partition,
            )
    finally:
        await producer.stop()


async def _record_effect(session: AsyncSession, event: ReceivedEvent) -> None:
    await session.execute(
        text("INSERT INTO effects (event_id, data) VALUES (:id, :data)"),
        {"id": event.id, "data": json.dumps(event.data)},
    )


def _runner(db: EventsDb, bootstrap: str, spec: ConsumerSpec, **options: Any) -> ConsumerRunner:
    return ConsumerRunner(
        spec,
        sessionmaker=db.sessionmaker,
        bootstrap_servers=bootstrap,
        retry_backoff=0.01,
        **options,
    )


@pytest.fixture
async def declared_dlqs(kafka_bootstrap_servers: str) -> AsyncIterator[list[str]]:
    """Dead-letter topics a test declares (appended by ``_declare``); deleted afterwards."""
    created: list[str] = []
    yield created
    await delete_topics(kafka_bootstrap_servers, created)


async def _declare(bootstrap: str, spec: ConsumerSpec, created: list[str]) -> None:
    topics = spec.dead_letter_topics()
    await ensure_topics(bootstrap, topics)
    created.extend(t.name for t in topics)


async def _admin(*argv: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    status = await admin.run(list(argv), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


# ---- what is transient -----------------------------------------------------------------------


async def test_only_database_unavailability_is_transient(events_db: EventsDb) -> None:
    # A real "terminated by administrator" from the server, as SQLAlchemy raises it.
    with pytest.raises(sa_exc.DBAPIError) as terminated:
        async with events_db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert is_transient_infrastructure_error(terminated.value)
    # A real serialization failure's class, raised by raw asyncpg code.
    assert is_transient_infrastructure_error(asyncpg.exceptions.SerializationError("x"))
    # A handler's own socket trouble (a partner's HTTP API) is not the database being down.
    assert not is_transient_infrastructure_error(ConnectionRefusedError(111, "refused"))
    wrapped = RuntimeError("archive unreachable")
    wrapped.__cause__ = OSError(113, "no route to host")
    assert not is_transient_infrastructure_error(wrapped)
    # A bug that happens to be a database error (a constraint) is not transient either.
    with pytest.raises(sa_exc.DBAPIError) as bug:
        async with events_db.engine.connect() as conn:
            await conn.execute(text("SELECT 1/0"))
    assert not is_transient_infrastructure_error(bug.value)


async def test_an_oserror_from_a_handler_is_retried_a_few_times_then_dead_lettered(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declared_dlqs: list[str]
) -> None:
    topic = await kafka_topic("consumer.oserror", partitions=1)
    calls: list[str] = []

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        calls.append(event.id)
        if event.id == "partner-down":
            raise ConnectionRefusedError(111, "the partner's API refused the connection")
        await _record_effect(session, event)

    await _produce(kafka_bootstrap_servers, topic, [("partner-down", {}), ("next", {})])
    spec = ConsumerSpec(group_id=unique_group("oserror"), topics=[topic], handler=handler)
    await _declare(kafka_bootstrap_servers, spec, declared_dlqs)
    async with _runner(events_db, kafka_bootstrap_servers, spec, max_attempts=3) as runner:
        stats = await runner.run_until(2)
    assert calls == ["partner-down"] * 3 + ["next"]
    assert (stats.handled, stats.dead_lettered) == (1, 1)
    [dead] = await kafka_events(
        kafka_bootstrap_servers, dead_letter_topic(spec.group_id, topic), count=1
    )
    assert dead.id == "partner-down"


# ---- blocking consumers ----------------------------------------------------------------------


async def test_a_blocking_consumer_holds_its_partition_until_the_record_succeeds(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declared_dlqs: list[str]
) -> None:
    topic = await kafka_topic("consumer.block", partitions=1)
    fixed = asyncio.Event()

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.id == "needs-fix" and not fixed.is_set():
            raise RuntimeError("a bug, fixed by the next deploy")
        await _record_effect(session, event)

    await _produce(kafka_bootstrap_servers, topic, [("needs-fix", {"n": 1}), ("after", {"n": 2})])
    group = unique_group("block")
    spec = ConsumerSpec(group_id=group, topics=[topic], handler=handler, on_failure="block")
    await _declare(kafka_bootstrap_servers, spec, declared_dlqs)
    async with _runner(
        events_db, kafka_bootstrap_servers, spec, max_attempts=2, max_backoff=0.05
    ) as runner:
        await runner.run_until(lambda stats: stats.blocked and stats.retries >= 5)
        assert await events_db.effects() == []  # the later record waits behind it
        blocked = {"group": group, "topic": topic, "partition": "0"}
        assert REGISTRY.get_sample_value("kommune_consumer_blocked", blocked) == 1
        fixed.set()
        stats = await runner.run_until(2)
    assert (stats.handled, stats.dead_lettered, stats.blocked) == (2, 0, False)
    assert [e["event_id"] for e in await events_db.effects()] == ["needs-fix", "after"]
    assert REGISTRY.get_sample_value("kommune_consumer_blocked", blocked) == 0
    assert (
        await kafka_events(kafka_bootstrap_servers, dead_letter_topic(group, topic), count=None)
        == []
    )


# ---- a group's own dead letters, listed and re-driven ----------------------------------------


async def test_dead_letters_are_the_groups_own_and_an_operator_redrives_them(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declared_dlqs: list[str]
) -> None:
    topic = await kafka_topic("consumer.own-dlq", partitions=1)
    broken = True

    async def fragile(session: AsyncSession, event: ReceivedEvent) -> None:
        if broken and event.data.get("tricky"):
            raise ValueError("cannot handle tricky things yet")
        await _record_effect(session, event)

    async def sturdy(session: AsyncSession, event: ReceivedEvent) -> None:
        await session.execute(text("SELECT 1"))

    await _produce(kafka_bootstrap_servers, topic, [("tricky-1", {"tricky": True}), ("plain", {})])
    fragile_spec = ConsumerSpec(group_id=unique_group("fragile"), topics=[topic], handler=fragile)
    sturdy_spec = ConsumerSpec(group_id=unique_group("sturdy"), topics=[topic], handler=sturdy)
    for spec in (fragile_spec, sturdy_spec):
        await _declare(kafka_bootstrap_servers, spec, declared_dlqs)
    async with _runner(events_db, kafka_bootstrap_servers, fragile_spec, max_attempts=1) as first:
        assert (await first.run_until(2)).dead_lettered == 1
    async with _runner(events_db, kafka_bootstrap_servers, sturdy_spec) as other:
        assert (await other.run_until(2)).handled == 2

    sturdy_dlq = dead_letter_topic(sturdy_spec.group_id, topic)
    assert await kafka_events(kafka_bootstrap_servers, sturdy_dlq, count=None) == []
    common = ["--bootstrap-servers", kafka_bootstrap_servers, "--topic", topic]
    status, listed = await _admin("dlq", "list", "--group", fragile_spec.group_id, *common)
    assert status == 0
    assert [(d["offset"], d["ce_id"], d["error_type"], d["reason"]) for d in listed] == [
        (0, "tricky-1", "ValueError", "handler_failed")
    ]
    assert listed[0]["error"] == "cannot handle tricky things yet"

    # The fix is deployed; the operator re-drives the dead letter to the original topic.
    broken = False
    status, result = await _admin(
        "dlq", "redrive", "--group", fragile_spec.group_id, *common, "--offset", "0"
    )
    assert (status, result) == (0, [{"redriven_offsets": [0]}])
    async with _runner(events_db, kafka_bootstrap_servers, fragile_spec) as fixed:
        assert (await fixed.run_until(1)).handled == 1
    async with _runner(events_db, kafka_bootstrap_servers, sturdy_spec) as again:
        stats = await again.run_until(1)
    assert (stats.handled, stats.duplicates) == (0, 1)  # the other group: no second effect
    assert sorted(e["event_id"] for e in await events_db.effects()) == ["plain", "tricky-1"]


async def test_redriving_an_offset_that_is_not_there_changes_nothing(
    kafka_bootstrap_servers: str, kafka_topic: Any, declared_dlqs: list[str]
) -> None:
    topic = await kafka_topic("consumer.no-dlq", partitions=1)
    spec = ConsumerSpec(group_id=unique_group("none"), topics=[topic], handler=_record_effect)
    await _declare(kafka_bootstrap_servers, spec, declared_dlqs)
    status, result = await _admin(
        "dlq", "redrive", "--bootstrap-servers", kafka_bootstrap_servers,
        "--group", spec.group_id, "--topic", topic, "--offset", "7",
    )  # fmt: skip
    assert status == 2
    assert "offset(s) [7]" in result[0]["error"]


# ---- inbox retention -------------------------------------------------------------------------


def test_inbox_rows_must_outlive_the_consumed_topics() -> None:
    spec = ConsumerSpec(group_id="g", topics=["a.b.v1"], handler=_record_effect)
    topics = [TopicSpec("a.b.v1", retention_ms=30 * DAY_MS), TopicSpec("other.v1")]
    assert check_inbox_retention(timedelta(days=60), [spec], topics) == timedelta(days=60)
    with pytest.raises(ValueError, match="at least 60"):
        check_inbox_retention(timedelta(days=45), [spec], topics)
    forever = [TopicSpec("a.b.v1", retention_ms=None, cleanup_policy="compact")]
    assert check_inbox_retention(timedelta(days=1), [spec], forever) is None  # never pruned


# ---- rebalances ------------------------------------------------------------------------------


async def test_a_revoked_partition_is_not_processed_any_further(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declared_dlqs: list[str]
) -> None:
    """Member A is in the middle of a batch when B joins: A finishes the record in hand,
    commits it and handles nothing more of that batch; B continues after A's offset. No
    record is handled by both (a duplicate would show in the inbox statistics)."""
    topic = await kafka_topic("consumer.rebalance", partitions=2)
    for partition in (0, 1):
        records = [(f"p{partition}-{n}-{uuid.uuid4().hex[:6]}", {"n": n}) for n in range(20)]
        await _produce(kafka_bootstrap_servers, topic, records, partition=partition)
    gate = asyncio.Event()
    holding = asyncio.Event()

    async def slow_first(session: AsyncSession, event: ReceivedEvent) -> None:
        if not gate.is_set():
            holding.set()
            await gate.wait()  # A is mid-record when the group rebalances
        await _record_effect(session, event)

    group = unique_group("rebalance")
    spec_a = ConsumerSpec(group_id=group, topics=[topic], handler=slow_first)
    spec_b = ConsumerSpec(group_id=group, topics=[topic], handler=_record_effect)
    await _declare(kafka_bootstrap_servers, spec_a, declared_dlqs)
    a = _runner(events_db, kafka_bootstrap_servers, spec_a, max_poll_records=20)
    b = _runner(events_db, kafka_bootstrap_servers, spec_b, max_poll_records=20)
    await a.start()
    try:
        await asyncio.wait_for(holding.wait(), 30)
        await b.start()

        async def revocation_started() -> bool:
            return a.stats.revocations >= 1

        await wait_until(revocation_started, deadline=30)
        gate.set()

        async def all_handled() -> bool:
            return a.stats.handled + b.stats.handled >= 40

        await wait_until(all_handled, deadline=60)
    finally:
        gate.set()
        await a.stop()
        await b.stop()
    assert a.stats.left_after_revocation >= 1, a.stats  # it stopped mid-batch
    assert a.stats.duplicates + b.stats.duplicates == 0, (a.stats, b.stats)
    assert a.stats.handled + b.stats.handled == 40
    assert len({e["event_id"] for e in await events_db.effects()}) == 40
