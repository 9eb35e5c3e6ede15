"""The consumer runner on real Kafka and PostgreSQL: effects once, poison to the DLQ, carry on."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pydantic
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.consumer import ConsumerRunner, ConsumerSpec
from kommune.events.envelope import ReceivedEvent, encode_headers
from kommune.events.relay import OutboxRelay
from kommune.events.topics import dead_letter_topic, ensure_topics
from kommune.testing.infra import KafkaProbe, delete_topics, unique_group

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent

TYPE = "de.kommune.test.thing.changed.v1"


def _headers(event_id: str, *, type_: str | None = TYPE) -> list[tuple[str, bytes]]:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_source": "/test",
        "ce_time": "2025-03-01T08:30:00+00:00",
        "content-type": "application/json",
    }
    if type_ is not None:
        headers["ce_type"] = type_
    return encode_headers(headers)


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send (key, value, headers) records in order, one partition per key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _record_effect(session: AsyncSession, event: ReceivedEvent) -> None:
    await session.execute(
        text("INSERT INTO effects (event_id, data) VALUES (:id, :data)"),
        {"id": event.id, "data": json.dumps(event.data)},
    )


@pytest.fixture
async def declare_dlqs(kafka_bootstrap_servers: str) -> AsyncIterator[DeclareDlqs]:
    """``await declare_dlqs(spec)``: create the group's dead-letter topics as a service does."""
    created: list[str] = []

    async def declare(spec: ConsumerSpec) -> None:
        topics = spec.dead_letter_topics()
        await ensure_topics(kafka_bootstrap_servers, topics)
        created.extend(t.name for t in topics)

    yield declare
    await delete_topics(kafka_bootstrap_servers, created)


DeclareDlqs = Callable[[ConsumerSpec], Awaitable[None]]


def _runner(db: EventsDb, bootstrap: str, spec: ConsumerSpec, **options: Any) -> ConsumerRunner:
    return ConsumerRunner(
        spec,
        sessionmaker=db.sessionmaker,
        bootstrap_servers=bootstrap,
        retry_backoff=0.01,
        **options,
    )


async def test_redelivered_event_has_one_effect(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any
) -> None:
    topic = await kafka_topic("consumer.dupe", partitions=1)
    same, other = str(uuid.uuid4()), str(uuid.uuid4())
    await _produce(
        kafka_bootstrap_servers,
        topic,
        [
            (b"a", b'{"n": 1}', _headers(same)),
            (b"a", b'{"n": 1}', _headers(same)),  # the relay died between ack and commit
            (b"a", b'{"n": 2}', _headers(other)),
        ],
    )
    group = unique_group("dupe")
    spec = ConsumerSpec(group_id=group, topics=[topic], handler=_record_effect)
    async with _runner(events_db, kafka_bootstrap_servers, spec) as runner:
        stats = await runner.run_until(3)
    assert (stats.handled, stats.duplicates, stats.dead_lettered) == (2, 1, 0)
    assert [e["event_id"] for e in await events_db.effects()] == [same, other]
    inbox = await events_db.scalar("SELECT count(*) FROM inbox WHERE consumer_group = :g", g=group)
    assert inbox == 2
    duplicates = REGISTRY.get_sample_value(
        "kommune_consumer_duplicates_total", {"group": group, "topic": topic}
    )
    assert duplicates == 1

    # A restarted consumer of the same group resumes after the committed offsets: no new effect.
    async with _runner(events_db, kafka_bootstrap_servers, spec) as again:
        await _produce(kafka_bootstrap_servers, topic, [(b"a", b'{"n": 3}', _headers("last"))])
        stats = await again.run_until(1)
    assert (stats.handled, stats.duplicates) == (1, 0)
    assert len(await events_db.effects()) == 3


async def test_poison_goes_to_the_dlq_and_the_consumer_carries_on(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declare_dlqs: DeclareDlqs
) -> None:
    topic = await kafka_topic("consumer.poison", partitions=1)
    good = str(uuid.uuid4())
    await _produce(
        kafka_bootstrap_servers,
        topic,
        [
            (b"k1", b"this is not json", _headers("bad-json")),
            (b"k2", b'{"n": 1}', _headers("no-type", type_=None)),
            (b"k3", b'{"n": 2}', _headers(good)),
        ],
    )
    group = unique_group("poison")
    spec = ConsumerSpec(group_id=group, topics=[topic], handler=_record_effect)
    await declare_dlqs(spec)
    dlq_topic = dead_letter_topic(group, topic)
    async with KafkaProbe(kafka_bootstrap_servers, dlq_topic, from_beginning=True) as dlq:
        async with _runner(events_db, kafka_bootstrap_servers, spec) as runner:
            stats = await runner.run_until(3)
        dead = await dlq.records(count=2)

    assert (stats.handled, stats.dead_lettered) == (1, 2)
    assert [e["event_id"] for e in await events_db.effects()] == [good]
    assert [(r.key, r.value) for r in dead] == [(b"k1", b"this is not json"), (b"k2", b'{"n": 1}')]
    first = {k: v.decode() for k, v in dead[0].headers}
    assert first["ce_id"] == "bad-json"  # the original headers travel along
    assert first["kommune_dlq_error_type"] == "PoisonMessage"
    assert "not JSON" in first["kommune_dlq_error"]
    assert first["kommune_dlq_original_topic"] == topic
    assert first["kommune_dlq_original_partition"] == "0"
    assert first["kommune_dlq_original_offset"] == "0"
    assert first["kommune_dlq_consumer_group"] == group
    second = {k: v.decode() for k, v in dead[1].headers}
    assert "ce_type" in second["kommune_dlq_error"]
    assert second["kommune_dlq_original_offset"] == "1"
    # Nothing was claimed for the poison: a fixed and re-driven record will be handled.
    assert (
        await events_db.scalar("SELECT count(*) FROM inbox WHERE consumer_group = :g", g=group) == 1
    )


async def test_failing_handler_is_retried_then_dead_lettered(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declare_dlqs: DeclareDlqs
) -> None:
    topic = await kafka_topic("consumer.fail", partitions=1)
    attempts: list[str] = []

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        attempts.append(event.id)
        await _record_effect(session, event)  # rolled back with the failure
        if event.data.get("explode"):
            raise RuntimeError("the archive is on fire")

    await _produce(
        kafka_bootstrap_servers,
        topic,
        [
            (b"k", b'{"explode": true}', _headers("boom")),
            (b"k", b'{"explode": false}', _headers("fine")),
        ],
    )
    group = unique_group("fail")
    spec = ConsumerSpec(group_id=group, topics=[topic], handler=handler)
    await declare_dlqs(spec)
    dlq_topic = dead_letter_topic(group, topic)
    async with KafkaProbe(kafka_bootstrap_servers, dlq_topic, from_beginning=True) as dlq:
        async with _runner(events_db, kafka_bootstrap_servers, spec, max_attempts=3) as runner:
            stats = await runner.run_until(2)
        [dead] = await dlq.records()

    assert attempts == ["boom", "boom", "boom", "fine"]
    assert (stats.handled, stats.dead_lettered, stats.retries) == (1, 1, 2)
    assert [e["event_id"] for e in await events_db.effects()] == ["fine"]
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["kommune_dlq_error_type"] == "RuntimeError"
    assert headers["kommune_dlq_error"] == "the archive is on fire"
    assert dead.value == b'{"explode": true}'


async def test_invalid_data_is_dead_lettered_without_retrying(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, declare_dlqs: DeclareDlqs
) -> None:
    class Payload(pydantic.BaseModel):
        n: int

    topic = await kafka_topic("consumer.invalid", partitions=1)
    calls: list[str] = []

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        calls.append(event.id)
        Payload.model_validate(event.data)
        await _record_effect(session, event)

    await _produce(
        kafka_bootstrap_servers,
        topic,
        [(b"k", b'{"n": "many"}', _headers("invalid")), (b"k", b'{"n": 1}', _headers("ok"))],
    )
    spec = ConsumerSpec(group_id=unique_group("invalid"), topics=[topic], handler=handler)
    await declare_dlqs(spec)
    async with _runner(events_db, kafka_bootstrap_servers, spec, max_attempts=5) as runner:
        stats = await runner.run_until(2)
    assert calls == ["invalid", "ok"]
    assert (stats.handled, stats.dead_lettered) == (1, 1)
    assert "ValidationError" in stats.dead_letter_reasons[0]


async def test_lost_database_connection_is_retried_not_dead_lettered(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any
) -> None:
    """A valid event must survive the database going away, however often: no DLQ."""
    topic = await kafka_topic("consumer.dbdown", partitions=1)
    kills: list[int] = []

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        await _record_effect(session, event)
        if len(kills) < 3:  # more often than max_attempts allows for a handler failure
            kills.append(1)
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    await _produce(kafka_bootstrap_servers, topic, [(b"k", b'{"n": 1}', _headers("survivor"))])
    spec = ConsumerSpec(group_id=unique_group("dbdown"), topics=[topic], handler=handler)
    async with _runner(events_db, kafka_bootstrap_servers, spec, max_attempts=1) as runner:
        stats = await runner.run_until(1)
    assert len(kills) == 3
    assert (stats.handled, stats.dead_lettered) == (1, 0)
    assert [e["event_id"] for e in await events_db.effects()] == ["survivor"]


async def test_other_event_types_are_skipped(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any
) -> None:
    topic = await kafka_topic("consumer.types", partitions=1)
    await _produce(
        kafka_bootstrap_servers,
        topic,
        [
            (b"k", b'{"n": 1}', _headers("wanted")),
            (b"k", b"not even json", _headers("ignored", type_="de.kommune.test.other.v1")),
        ],
    )
    spec = ConsumerSpec(
        group_id=unique_group("types"),
        topics=[topic],
        handler=_record_effect,
        event_types=frozenset({TYPE}),
    )
    async with _runner(events_db, kafka_bootstrap_servers, spec) as runner:
        stats = await runner.run_until(2)
    assert (stats.handled, stats.skipped, stats.dead_lettered) == (1, 1, 0)
    assert [e["event_id"] for e in await events_db.effects()] == ["wanted"]


@pytest.mark.parametrize("partitions", [3])
async def test_outbox_to_consumer_end_to_end(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    kafka_topic: Any,
    make_event: MakeEvent,
    partitions: int,
) -> None:
    """Relay and consumer together: every event once, per-aggregate order kept."""
    topic = await kafka_topic("consumer.e2e", partitions=partitions)
    for n in range(10):
        await events_db.add_events(*(make_event(topic, f"agg-{a}", {"n": n}) for a in range(5)))
    relay = OutboxRelay(
        engine=events_db.engine,
        dsn=events_db.dsn,
        bootstrap_servers=kafka_bootstrap_servers,
        service_name=f"e2e-{uuid.uuid4().hex[:8]}",
        poll_interval=0.2,
    )
    spec = ConsumerSpec(group_id=unique_group("e2e"), topics=[topic], handler=_record_effect)
    # Each event's aggregate, read before the relay deletes the rows it sends.
    rows = await events_db.scalar("SELECT json_object_agg(id::text, aggregateid) FROM outbox")
    await relay.start()
    try:
        async with _runner(events_db, kafka_bootstrap_servers, spec) as runner:
            stats = await runner.run_until(50)
    finally:
        await relay.stop()
    assert stats.handled == 50
    effects = await events_db.effects()
    assert len({e["event_id"] for e in effects}) == 50
    per_aggregate: dict[str, list[int]] = {}
    for effect in effects:
        per_aggregate.setdefault(rows[effect["event_id"]], []).append(effect["data"]["n"])
    assert per_aggregate == {f"agg-{a}": list(range(10)) for a in range(5)}
