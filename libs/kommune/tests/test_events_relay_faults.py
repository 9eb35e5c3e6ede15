"""The outbox cannot jam: each row fails on its own, is parked after N failures, and waits for
an operator while every other aggregate flows. Real broker, real database."""

from __future__ import annotations

import io
import json
import socket
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

from kommune.events import admin
from kommune.events.relay import KafkaUnavailableError, OutboxRelay
from kommune.events.topics import TopicSpec, ensure_topics
from kommune.testing.infra import delete_topics, kafka_events, unique_topic

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent, PausedBroker


def _relay(db: EventsDb, bootstrap: str, **options: Any) -> OutboxRelay:
    return OutboxRelay(
        engine=db.engine,
        dsn=db.dsn,
        bootstrap_servers=bootstrap,
        service_name=f"faults-{uuid.uuid4().hex[:8]}",
        **options,
    )


async def _row(db: EventsDb, event_id: uuid.UUID) -> dict[str, Any]:
    row: dict[str, Any] = await db.scalar(
        # A sent row is deleted: what is left of it is the fact that it was sent.
        "SELECT coalesce((SELECT json_build_object('sent', false, 'attempts', attempts, "
        "'parked', parked_at IS NOT NULL, 'error', last_error) FROM outbox WHERE id = :id), "
        "json_build_object('sent', true))",
        id=event_id,
    )
    return row


async def _admin(*argv: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    status = await admin.run(list(argv), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_topic_that_does_not_exist_parks_its_row_and_blocks_nobody_else(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    good_topic = await kafka_topic("relay.good", partitions=1)
    missing_topic = unique_topic("relay.missing")  # declared by the service, never created
    doomed = make_event(missing_topic, "x", {"n": 1})
    after_doomed = make_event(good_topic, "x", {"n": 2})  # same aggregate: must wait
    other = make_event(good_topic, "y", {"n": 1})
    await events_db.add_events(doomed, after_doomed, other)
    relay = _relay(
        events_db,
        kafka_bootstrap_servers,
        park_after_attempts=3,
        retry_backoff=0.0,  # retry at once: the test drives the attempts
        publish_timeout=5.0,
    )
    try:
        assert await relay.relay_once() == 1  # the other aggregate, at once
        assert (await _row(events_db, doomed.id))["attempts"] == 1
        assert "does not exist" in (await _row(events_db, doomed.id))["error"]
        assert await relay.relay_once() == 0
        assert await relay.relay_once() == 0
        assert await _row(events_db, doomed.id) == {
            "sent": False,
            "attempts": 3,
            "parked": True,
            "error": f"UnknownTopicOrPartitionError: topic {missing_topic!r} does not exist",
        }
        assert await relay.relay_once() == 0  # parked: not tried again
        assert (await _row(events_db, doomed.id))["attempts"] == 3
        assert (await _row(events_db, after_doomed.id))["sent"] is False  # its aggregate waits
        assert (await _row(events_db, after_doomed.id))["attempts"] == 0

        # Every other aggregate keeps flowing.
        later = make_event(good_topic, "y", {"n": 2})
        await events_db.add_events(later)
        assert await relay.relay_once() == 1

        # Visible: metric, readiness detail, operator command.
        await relay.refresh_metrics()
        parked_gauge = {"service": relay.service_name}
        assert REGISTRY.get_sample_value("kommune_outbox_parked", parked_gauge) == 1
        check = await relay.check()
        assert (check["status"], check["parked"], check["backlog"]) == ("fail", 1, 2)
        status, listed = await _admin("outbox", "parked", "--database-url", events_db.url)
        assert status == 0
        assert [(r["id"], r["topic"], r["attempts"]) for r in listed] == [
            (str(doomed.id), missing_topic, 3)
        ]

        # The operator creates the topic and re-drives the row: it and its aggregate flow.
        await ensure_topics(kafka_bootstrap_servers, [TopicSpec(missing_topic)])
        status, result = await _admin(
            "outbox", "redrive", "--database-url", events_db.url, "--id", str(doomed.id)
        )
        assert (status, result) == (0, [{"redriven": [str(doomed.id)]}])
        assert await relay.relay_once() == 2
        assert (await _row(events_db, doomed.id))["sent"] is True
        assert (await _row(events_db, after_doomed.id))["sent"] is True
        assert (await relay.check())["status"] == "ok"
        received = await kafka_events(kafka_bootstrap_servers, missing_topic, count=None)
        assert [e.id for e in received] == [str(doomed.id)]
    finally:
        await relay.stop()
        await delete_topics(kafka_bootstrap_servers, [missing_topic])


async def test_redrive_needs_a_choice(events_db: EventsDb) -> None:
    status, result = await _admin("outbox", "redrive", "--database-url", events_db.url)
    assert status == 2
    assert "--all" in result[0]["error"]


async def test_a_send_the_broker_never_acknowledges_is_that_rows_failure(
    events_db: EventsDb, kafka_bootstrap_servers: str, kafka_topic: Any, make_event: MakeEvent
) -> None:
    """The broker answers, but not for one record (its topic was deleted after the relay
    learnt its metadata: the broker says "unknown partition" and the producer keeps retrying):
    that row times out on its own; the batch's other rows are published."""
    fine_topic = await kafka_topic("relay.fine", partitions=1)
    doomed_topic = unique_topic("relay.deleted")
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(doomed_topic)])
    warm_up = make_event(doomed_topic, "s", {"n": 0})
    stuck, fine = make_event(doomed_topic, "s", {"n": 1}), make_event(fine_topic, "f", {"n": 1})
    relay = _relay(events_db, kafka_bootstrap_servers, publish_timeout=2.0, retry_backoff=60.0)
    try:
        await events_db.add_events(warm_up)
        assert await relay.relay_once() == 1  # the producer knows the topic now
        await delete_topics(kafka_bootstrap_servers, [doomed_topic])
        await events_db.add_events(stuck, fine)
        assert await relay.relay_once() == 1
        row = await _row(events_db, stuck.id)
        assert (row["sent"], row["attempts"], row["parked"]) == (False, 1, False)
        assert row["error"].startswith("KafkaTimeoutError: not a")  # accepted or acknowledged
        assert (await _row(events_db, fine.id))["sent"] is True
        # Backing off: the next batch does not wait for it again.
        assert await relay.relay_once() == 0
        assert (await _row(events_db, stuck.id))["attempts"] == 1
    finally:
        await relay.stop()


async def test_a_paused_broker_is_an_outage_not_a_row_failure(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    kafka_topic: Any,
    make_event: MakeEvent,
    paused_broker: PausedBroker,
) -> None:
    topic = await kafka_topic("relay.paused", partitions=1)
    warm_up, during = make_event(topic, "p", {"n": 0}), make_event(topic, "p", {"n": 1})
    await events_db.add_events(warm_up)
    relay = _relay(events_db, kafka_bootstrap_servers, publish_timeout=1.5, retry_backoff=0.0)
    try:
        assert await relay.relay_once() == 1
        await events_db.add_events(during)
        paused_broker.pause()
        try:
            with pytest.raises(KafkaUnavailableError):
                await relay.relay_once()
        finally:
            paused_broker.resume()
        row = await _row(events_db, during.id)
        assert (row["sent"], row["attempts"], row["parked"]) == (False, 0, False)
        # Back: the send that was in flight is settled, not sent a second time.
        assert await relay.relay_once() == 0
        assert (await _row(events_db, during.id))["sent"] is True
    finally:
        await relay.stop()
    received = await kafka_events(kafka_bootstrap_servers, topic, count=None)
    assert [e.id for e in received] == [str(warm_up.id), str(during.id)]


async def test_the_leader_connection_has_tcp_keepalives(
    events_db: EventsDb, kafka_bootstrap_servers: str
) -> None:
    relay = _relay(events_db, kafka_bootstrap_servers)
    try:
        assert await relay.relay_once() == 0
        assert relay.is_leader
        conn = relay._conn
        assert conn is not None
        assert await conn.fetchval("SHOW tcp_keepalives_idle") == "15"
        assert await conn.fetchval("SHOW tcp_keepalives_count") == "4"
        sock = conn._transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
    finally:
        await relay.stop()
