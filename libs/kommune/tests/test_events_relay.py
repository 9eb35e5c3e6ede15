"""The outbox relay against real PostgreSQL and Kafka: nothing lost, order kept, one relay."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import REGISTRY
from sqlalchemy import text

from kommune.db import transaction
from kommune.events.envelope import decode
from kommune.events.outbox import Outbox
from kommune.events.relay import OutboxRelay
from kommune.testing.conditions import no_tasks_left_behind, wait_until
from kommune.testing.infra import KafkaProbe, LocalKafka, kafka_events

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent

CE_HEADERS = {
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_specversion",
    "ce_time",
    "ce_subject",
    "ce_dataschema",
    "content-type",
}


def _relay(db: EventsDb, bootstrap: str, service: str | None = None, **options: Any) -> OutboxRelay:
    return OutboxRelay(
        engine=db.engine,
        dsn=db.dsn,
        bootstrap_servers=bootstrap,
        service_name=service or f"relay-test-{uuid.uuid4().hex[:8]}",
        **options,
    )


async def _drain(relay: OutboxRelay) -> int:
    total = 0
    while (n := await relay.relay_once()) > 0:
        total += n
    return total


async def test_publishes_in_order_per_aggregate_with_headers_and_key(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    topic = await kafka_topic("relay.order", partitions=3)
    aggregates = [str(uuid.uuid4()) for _ in range(4)]
    # Interleaved across aggregates and transactions, 25 events each.
    for n in range(25):
        await events_db.add_events(*(make_event(topic, agg, {"n": n}) for agg in aggregates))

    relay = _relay(events_db, kafka_bootstrap_servers, batch_size=30)
    try:
        assert await _drain(relay) == 100
    finally:
        await relay.stop()

    events = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    assert len(events) == 100
    by_key: dict[str | None, list[int]] = defaultdict(list)
    for received in events:
        by_key[received.key].append(received.data["n"])
        assert received.subject == received.key
        assert received.source == "/test"
        assert received.type == "de.kommune.test.thing.changed.v1"
        assert set(received.headers) >= CE_HEADERS
        # The relay computes the partition itself: exactly where Kafka's default puts the key.
        assert received.key is not None
        assert received.partition == DefaultPartitioner()(received.key.encode(), [0, 1, 2], [])
    assert set(by_key) == set(aggregates)
    assert all(ns == list(range(25)) for ns in by_key.values()), by_key
    # Every sent row is deleted, none left for a second relay run.
    assert await events_db.scalar("SELECT count(*) FROM outbox") == 0


async def test_rolled_back_event_is_never_published(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    topic = await kafka_topic("relay.rollback")
    doomed = make_event(topic, "a", {"doomed": True})

    async def failing_request() -> None:
        async with transaction(events_db.sessionmaker) as session:
            await Outbox(session, "/test").add(doomed)
            await session.flush()
            raise RuntimeError("the request failed after writing its event")

    with pytest.raises(RuntimeError):
        await failing_request()
    kept = make_event(topic, "a", {"doomed": False})
    await events_db.add_events(kept)

    relay = _relay(events_db, kafka_bootstrap_servers)
    try:
        assert await _drain(relay) == 1
    finally:
        await relay.stop()
    events = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    assert [e.id for e in events] == [str(kept.id)]


async def test_late_committing_row_is_not_skipped(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    """tx1 inserts first (lower seq) but commits last: a 'last id' cursor would lose it."""
    topic = await kafka_topic("relay.late")
    first, second = make_event(topic, "x", {"n": 1}), make_event(topic, "y", {"n": 2})
    relay = _relay(events_db, kafka_bootstrap_servers)
    try:
        async with events_db.sessionmaker() as tx1, events_db.sessionmaker() as tx2:
            await Outbox(tx1, "/test").add(first)
            await tx1.flush()
            await Outbox(tx2, "/test").add(second)
            await tx2.flush()
            seq = text("SELECT seq FROM outbox WHERE id = :id")
            first_seq = await tx1.scalar(seq, {"id": first.id})
            second_seq = await tx2.scalar(seq, {"id": second.id})
            assert first_seq < second_seq  # inserted first, committed last
            await tx2.commit()
            assert await _drain(relay) == 1  # only the committed one is visible
            await tx1.commit()
        assert await _drain(relay) == 1
    finally:
        await relay.stop()

    events = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    assert sorted(e.id for e in events) == sorted([str(first.id), str(second.id)])


async def test_notify_wakes_the_relay_and_stop_is_prompt(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    topic = await kafka_topic("relay.notify")
    # Polling every 60 s: only LISTEN/NOTIFY can deliver within the test's few seconds.
    relay = _relay(events_db, kafka_bootstrap_servers, poll_interval=60.0)
    with no_tasks_left_behind():
        await relay.start()
        try:
            await wait_until(lambda: _is_leader(relay))
            async with KafkaProbe(kafka_bootstrap_servers, topic) as probe:
                ev = make_event(topic, "n", {"hello": "world"})
                started = time.monotonic()
                await events_db.add_events(ev)
                [received] = await probe.events(timeout=10)
                assert received.id == str(ev.id)
                assert time.monotonic() - started < 30  # the poll would take 60 s
        finally:
            started = time.monotonic()
            await relay.stop()
            stop_took = time.monotonic() - started
    assert stop_took < 3


def _publish_errors(relay: OutboxRelay) -> float:
    labels = {"service": relay.service_name}
    return REGISTRY.get_sample_value("kommune_outbox_publish_errors_total", labels) or 0.0


async def _is_leader(relay: OutboxRelay) -> bool:
    return relay.is_leader


async def test_two_relays_only_one_publishes_and_the_other_takes_over(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    topic = await kafka_topic("relay.two")
    service = f"relay-two-{uuid.uuid4().hex[:8]}"
    options = {"poll_interval": 0.2, "lock_retry_interval": 0.2, "batch_size": 50}
    a = _relay(events_db, kafka_bootstrap_servers, service, **options)
    b = _relay(events_db, kafka_bootstrap_servers, service, **options)
    await a.start()
    await b.start()
    try:
        for n in range(10):
            await events_db.add_events(
                *(make_event(topic, f"agg-{i}", {"n": n}) for i in range(20))
            )

        async def all_published() -> bool:
            unpublished: int = await events_db.scalar("SELECT count(*) FROM outbox")
            return unpublished == 0

        await wait_until(all_published)
        assert [a.is_leader, b.is_leader].count(True) == 1
        leader, follower = (a, b) if a.is_leader else (b, a)

        # The leader goes away (a deploy): the other replica takes over within a moment.
        await leader.stop()
        await events_db.add_events(make_event(topic, "agg-late", {"n": 99}))
        await wait_until(all_published, deadline=10)
        assert follower.is_leader
    finally:
        await a.stop()
        await b.stop()

    events = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    ids = [e.id for e in events]
    assert len(ids) == 201
    assert len(set(ids)) == 201, "an event was published twice"
    for i in range(20):
        assert [e.data["n"] for e in events if e.key == f"agg-{i}"] == list(range(10))


async def test_relay_survives_losing_its_database_connection(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    """Losing the connection loses the lock; the relay reconnects, relocks and carries on."""
    topic = await kafka_topic("relay.reconnect")
    service = f"relay-reconnect-{uuid.uuid4().hex[:8]}"
    relay = _relay(events_db, kafka_bootstrap_servers, service, poll_interval=0.2)
    await relay.start()
    try:
        await wait_until(lambda: _is_leader(relay))
        async with events_db.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"{service}-outbox-relay"},
            )
        assert killed == 1
        await events_db.add_events(make_event(topic, "r", {"n": 1}))

        async def all_published() -> bool:
            unpublished: int = await events_db.scalar("SELECT count(*) FROM outbox")
            return unpublished == 0

        await wait_until(all_published, deadline=15)
        assert relay.is_leader
    finally:
        await relay.stop()
    assert len(await kafka_events(kafka_bootstrap_servers, topic, count=None)) == 1


async def test_metrics_follow_the_backlog(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    topic = await kafka_topic("relay.metrics")
    service = f"relay-metrics-{uuid.uuid4().hex[:8]}"
    relay = _relay(events_db, kafka_bootstrap_servers, service)
    try:
        await events_db.add_events(*(make_event(topic, "m", {"n": n}) for n in range(5)))
        backlog, age = await relay.refresh_metrics()
        assert backlog == 5
        assert age >= 0
        assert REGISTRY.get_sample_value("kommune_outbox_backlog", {"service": service}) == 5

        assert await _drain(relay) == 5
        sample = REGISTRY.get_sample_value("kommune_outbox_published_total", {"service": service})
        assert sample == 5
        assert await relay.refresh_metrics() == (0, 0.0)
        assert await events_db.scalar("SELECT count(*) FROM outbox") == 0  # sent rows go

        await events_db.add_events(make_event(topic, "m", {"n": 5}))
        assert (await relay.refresh_metrics())[0] == 1
    finally:
        await relay.stop()


async def test_a_row_kafka_rejects_holds_back_only_its_aggregate(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    """A record too large for the broker is not lost and does not stop other aggregates."""
    topic = await kafka_topic("relay.reject")
    huge = make_event(topic, "big", {"blob": "x" * 2_000_000})
    after_huge = make_event(topic, "big", {"n": 2})
    other = make_event(topic, "small", {"n": 1})
    await events_db.add_events(huge, after_huge, other)
    relay = _relay(events_db, kafka_bootstrap_servers)
    try:
        assert await relay.relay_once() == 1  # only the other aggregate's event
    finally:
        await relay.stop()
    rows = await events_db.scalar(
        "SELECT json_agg(json_build_object('id', id, 'attempts', attempts, 'error', last_error) "
        "ORDER BY seq) FROM outbox"
    )
    # The other aggregate's row was sent and deleted; the two of "big" are kept.
    assert [(r["id"], r["attempts"]) for r in rows] == [(str(huge.id), 1), (str(after_huge.id), 0)]
    assert "TooLarge" in rows[0]["error"]
    events = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    assert [e.id for e in events] == [str(other.id)]


@pytest.mark.slow
async def test_kafka_down_delays_but_never_loses_or_duplicates(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    kafka_topic: Any,
    make_event: MakeEvent,
    local_kafka: LocalKafka,
) -> None:
    topic = await kafka_topic("relay.outage", partitions=1)
    relay = _relay(
        events_db,
        kafka_bootstrap_servers,
        poll_interval=0.2,
        publish_timeout=2.0,
        max_backoff=1.0,
    )
    before = make_event(topic, "o", {"n": 0})
    during = make_event(topic, "o", {"n": 1})
    await relay.start()
    try:
        await events_db.add_events(before)

        async def published(event_id: uuid.UUID) -> bool:
            return bool(
                await events_db.scalar(
                    "SELECT NOT EXISTS (SELECT FROM outbox WHERE id = :id)", id=event_id
                )
            )

        await wait_until(lambda: published(before.id))
        try:
            await local_kafka.stop()
            errors_before = _publish_errors(relay)
            await events_db.add_events(during)

            async def tried_and_failed() -> bool:
                return _publish_errors(relay) > errors_before

            await wait_until(tried_and_failed, deadline=30)  # the relay tried, backs off
            assert not await published(during.id)
        finally:
            await local_kafka.start()
        await wait_until(lambda: published(during.id), deadline=60)
    finally:
        await relay.stop()

    records = await KafkaProbe(kafka_bootstrap_servers, topic, from_beginning=True).start()
    try:
        events = [decode(r) for r in await records.records(count=None, timeout=20)]
    finally:
        await records.stop()
    assert [e.id for e in events].count(str(during.id)) == 1
    assert [e.data["n"] for e in events] == [0, 1]
