"""Every stop path finishes in bounded time against a paused broker, mid-request.

The broker process is frozen with SIGSTOP (``paused_broker``) while a request is in flight: its
sockets stay open and nothing answers, the worst case for a client's graceful stop. Each stop
must return within its budget, raise nothing (``CancelledError`` included), leave no task of
its own running, and log what it abandoned. The broker is resumed (SIGCONT) afterwards, and
nothing written to the outbox was lost.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from kommune.events.consumer import ConsumerRunner, ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune.events.relay import OutboxRelay
from kommune.events.shutdown import stop_kafka_client
from kommune.events.topics import TopicProvisioner, TopicSpec
from kommune.health import HealthChecks
from kommune.testing.conditions import no_tasks_left_behind, wait_until
from kommune.testing.infra import kafka_events, unique_group, unique_topic

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent, PausedBroker

GRACE = 4.5
"""What a stop may take beyond its budget: the abort's short graces (three of 1 s at most) and
scheduling slack on a loaded machine. Without the bounded stop these took 30-40 s or for ever."""


async def test_consumer_stops_while_its_offset_commit_hangs(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    kafka_topic: Any,
    paused_broker: PausedBroker,
) -> None:
    """The handler freezes the broker; the runner then commits (in flight, no answer); stop."""
    topic = await kafka_topic("shutdown.consumer", partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            b'{"n": 1}',
            key=b"k",
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", b"frozen"),
                ("ce_source", b"/test"),
                ("ce_type", b"de.kommune.test.thing.changed.v1"),
            ],
        )
    finally:
        await producer.stop()
    handled = asyncio.Event()

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        paused_broker.pause()  # the offset commit that follows finds no answer
        handled.set()

    spec = ConsumerSpec(group_id=unique_group("shutdown"), topics=[topic], handler=handler)
    with no_tasks_left_behind(), capture_logs() as logs:
        runner = ConsumerRunner(
            spec, sessionmaker=events_db.sessionmaker, bootstrap_servers=kafka_bootstrap_servers
        )
        await runner.start()
        try:
            await asyncio.wait_for(handled.wait(), 30)
            await wait_until(_counted(runner))  # the record is done; its commit is in flight
        finally:
            started = time.monotonic()
            await runner.stop(within=3.0)
            took = time.monotonic() - started
            paused_broker.resume()
    assert took < 3.0 + GRACE, took
    assert runner.stats.handled == 1
    events = [entry["event"] for entry in logs]
    assert "kafka_client_stop_abandoned" in events, events


def _counted(runner: ConsumerRunner) -> Any:
    async def condition() -> bool:
        return runner.stats.handled == 1

    return condition


async def test_relay_stops_while_a_send_waits_for_the_broker(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    kafka_topic: Any,
    make_event: MakeEvent,
    paused_broker: PausedBroker,
) -> None:
    topic = await kafka_topic("shutdown.relay", partitions=1)
    relay = OutboxRelay(
        engine=events_db.engine,
        dsn=events_db.dsn,
        bootstrap_servers=kafka_bootstrap_servers,
        service_name=f"shutdown-{uuid.uuid4().hex[:8]}",
        publish_timeout=30.0,  # the send would wait this long: stop must not
        poll_interval=0.2,
    )
    warm_up, frozen = make_event(topic, "w", {"n": 0}), make_event(topic, "f", {"n": 1})
    with no_tasks_left_behind(), capture_logs() as logs:
        await relay.start()
        try:
            await events_db.add_events(warm_up)  # producer up, topic metadata known
            await wait_until(lambda: _published(events_db, warm_up.id))
            paused_broker.pause()
            await events_db.add_events(frozen)
            await wait_until(lambda: _locked_by_relay(events_db, frozen.id))  # send in flight
        finally:
            started = time.monotonic()
            await relay.stop(within=3.0)
            took = time.monotonic() - started
            paused_broker.resume()
    assert took < 3.0 + GRACE, took
    events = [entry["event"] for entry in logs]
    assert "kafka_client_stop_abandoned" in events, events
    # Nothing lost: the row is still unsent, and the next relay publishes it.
    assert not await _published(events_db, frozen.id)
    again = OutboxRelay(
        engine=events_db.engine,
        dsn=events_db.dsn,
        bootstrap_servers=kafka_bootstrap_servers,
        service_name=relay.service_name,
    )
    try:
        await wait_until(lambda: _relayed(again), deadline=60)
    finally:
        await again.stop()
    received = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    # At least once: the frozen broker may still append the request that was already in its
    # socket when it resumes (a duplicate, which consumers' inboxes absorb), never zero times.
    assert [e.id for e in received].count(str(frozen.id)) >= 1
    assert await _published(events_db, frozen.id)


async def _relayed(relay: OutboxRelay) -> bool:
    try:
        await relay.relay_once()
    except Exception:
        return False
    backlog, _ = await relay.refresh_metrics()
    return backlog == 0


async def _published(db: EventsDb, event_id: uuid.UUID) -> bool:
    return bool(
        await db.scalar("SELECT NOT EXISTS (SELECT FROM outbox WHERE id = :id)", id=event_id)
    )


async def _locked_by_relay(db: EventsDb, event_id: uuid.UUID) -> bool:
    """True while another transaction (the relay's batch) holds the row."""
    async with db.engine.begin() as conn:
        free = await conn.scalar(
            text("SELECT id FROM outbox WHERE id = :id FOR UPDATE SKIP LOCKED"),
            {"id": event_id},
        )
    return free is None


async def test_producer_stop_with_a_record_in_flight(
    kafka_bootstrap_servers: str, kafka_topic: Any, paused_broker: PausedBroker
) -> None:
    topic = await kafka_topic("shutdown.producer", partitions=1)
    with no_tasks_left_behind(), capture_logs() as logs:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap_servers, enable_idempotence=True
        )
        await producer.start()
        await producer.send_and_wait(topic, b"warm-up")
        paused_broker.pause()
        try:
            pending = await producer.send(topic, b"in flight")
            started = time.monotonic()
            clean = await stop_kafka_client("test producer", producer, within=2.0)
            took = time.monotonic() - started
        finally:
            paused_broker.resume()
    outcome = (pending.exception() or "delivered") if pending.done() else "pending"
    assert not clean, (took, repr(outcome), logs)
    assert took < 2.0 + GRACE, took
    assert pending.done()  # failed, not left hanging
    assert pending.exception() is not None
    assert [e["event"] for e in logs].count("kafka_client_stop_abandoned") == 1


async def test_readiness_client_closes_while_a_probe_waits(
    kafka_bootstrap_servers: str, paused_broker: PausedBroker
) -> None:
    health = HealthChecks(engine=None, kafka_bootstrap=kafka_bootstrap_servers, timeout=30.0)
    with no_tasks_left_behind():
        assert (await health.check_kafka())["status"] == "ok"
        health._kafka_cached = None  # the next probe must ask the broker
        paused_broker.pause()
        try:
            probe = asyncio.create_task(health.check_kafka())

            async def probing() -> bool:
                return health._kafka_probe is not None

            await wait_until(probing)
            started = time.monotonic()
            await health.aclose()
            took = time.monotonic() - started
            await asyncio.wait({probe}, timeout=GRACE)
        finally:
            paused_broker.resume()
    assert took < 1.0 + GRACE, took
    assert probe.done()


async def test_topic_provisioner_stops_while_the_admin_request_waits(
    kafka_bootstrap_servers: str, paused_broker: PausedBroker
) -> None:
    provisioner = TopicProvisioner(
        kafka_bootstrap_servers, [TopicSpec(unique_topic("shutdown.admin"))]
    )
    with no_tasks_left_behind():
        paused_broker.pause()
        try:
            await provisioner.start()

            async def trying() -> bool:
                return provisioner.attempts >= 1

            await wait_until(trying)
            started = time.monotonic()
            await provisioner.stop()
            took = time.monotonic() - started
        finally:
            paused_broker.resume()
    assert took < 3.0 + GRACE, took
    assert not provisioner.ready.is_set()
    assert (await provisioner.check())["status"] == "fail"
