"""Outbox relay throughput next to raw aiokafka, measured in the same run.

(a) baseline: an idempotent ``AIOKafkaProducer`` sends N CloudEvents (≈300 B JSON plus ``ce_*``
    headers) to a fresh topic without awaiting each send, then awaits every ack → messages/s.
(b) the same N events as outbox rows (inserted with COPY, then VACUUM ANALYZE, not timed); the
    relay drains them to a second fresh topic (its batches: select FOR UPDATE SKIP LOCKED through
    a cursor, send, acks, delete; pipelined in chunks, see kommune.events.relay) → events/s.

Both use the relay's producer settings, so the ratio is the cost of the outbox round trip itself.

    uv run python bench/bench_outbox_relay.py [--events 20000] [--batch-size 1000]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` / ``KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS``, else the running
project-local ones (``bash deploy/local/postgres.sh start``, ``bash deploy/local/kafka.sh start``).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from results import merge, result
from sqlalchemy.engine import make_url

from kommune.db import create_engine, new_metadata
from kommune.events.envelope import encode_headers
from kommune.events.outbox import DomainEvent, cloudevent_headers
from kommune.events.relay import PRODUCER_DEFAULTS, OutboxRelay
from kommune.events.tables import add_event_tables
from kommune.events.topics import TopicSpec, ensure_topics
from kommune.testing.infra import local_endpoints

DEFAULT_DATABASE_URL = "postgresql://kommune:kommune@127.0.0.1:15432/postgres"
DEFAULT_KAFKA = "127.0.0.1:19092"
AGGREGATES = 1000


def _events(count: int, topic: str) -> list[tuple[DomainEvent, dict[str, Any], dict[str, str]]]:
    """(event, payload, headers) with a ≈300-byte payload, spread over AGGREGATES aggregates."""
    rows = []
    for n in range(count):
        aggregate = f"00000000-0000-4000-8000-{n % AGGREGATES:012d}"
        payload = {
            "request_id": aggregate,
            "service_code": "sperrmuell",
            "status": "submitted",
            "title": "Sperrmüll-Abholung Hauptstraße 12",
            "description": "Zwei Sessel, ein Schrank; Abholung vormittags.",
            "submitted_at": datetime.now(UTC).isoformat(),
            "sequence": n,
        }
        event = DomainEvent(
            topic=topic,
            type="de.kommune.egov.request.submitted.v1",
            aggregate_type="request",
            aggregate_id=aggregate,
            data=payload,
        )
        rows.append((event, payload, cloudevent_headers(event, "/egov")))
    return rows


def _producer_options(bootstrap: str) -> dict[str, Any]:
    return {**PRODUCER_DEFAULTS, "bootstrap_servers": bootstrap}


class RawProducer:
    """The baseline: the same records straight from an idempotent aiokafka producer."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = AIOKafkaProducer(**_producer_options(bootstrap))

    async def __aenter__(self) -> RawProducer:
        await self.producer.start()
        # Warm-up, not timed: connections and the topic's metadata.
        await self.producer.send_and_wait(self.topic, b"{}", key=b"warm-up")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def run(self, events: list[Any]) -> float:
        encoded = [
            (
                e.aggregate_id.encode(),
                json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode(),
                encode_headers(h),
            )
            for e, p, h in events
        ]
        started = time.perf_counter()
        futures = [
            await self.producer.send(self.topic, value, key=key, headers=headers)
            for key, value, headers in encoded
        ]
        await asyncio.gather(*futures)
        return len(encoded) / (time.perf_counter() - started)


class RelayRun:
    """The relay of a fresh database; each run COPYs new outbox rows, then times the drain."""

    def __init__(self, admin_dsn: str, bootstrap: str, topic: str, batch_size: int) -> None:
        self.admin_dsn = admin_dsn
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.database = f"bench_outbox_{uuid.uuid4().hex[:10]}"
        url = make_url(admin_dsn).set(database=self.database)
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.engine = create_engine(
            url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        )
        self.relay = OutboxRelay(self.engine, self.dsn, bootstrap, "bench", batch_size=batch_size)

    async def __aenter__(self) -> RelayRun:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        metadata = new_metadata()
        outbox, _ = add_event_tables(metadata)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all, tables=[outbox])
        # Warm-up, not timed: connection, lock, producer and the topic's metadata.
        await self._copy([(uuid.uuid4(), "warm-up", "warm-up", "warm-up", self.topic, "{}", "{}")])
        if await self.relay.relay_once() != 1:
            raise RuntimeError("the warm-up event was not relayed")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.relay.stop()
        await self.engine.dispose()
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _copy(self, records: list[tuple[Any, ...]]) -> None:
        db = await asyncpg.connect(self.dsn)
        try:
            columns = ["id", "aggregatetype", "aggregateid", "type", "topic", "payload", "headers"]
            await db.copy_records_to_table("outbox", columns=columns, records=records)
            # Earlier rounds left their published rows behind as dead versions; autovacuum
            # would have cleaned them in a running service (not timed).
            await db.execute("VACUUM ANALYZE outbox")
        finally:
            await db.close()

    def _row(self, event: DomainEvent, payload: Any, headers: Any) -> tuple[Any, ...]:
        return (
            uuid.uuid4(),  # fresh ids: every round writes new rows
            event.aggregate_type,
            event.aggregate_id,
            event.type,
            self.topic,
            json.dumps(payload),
            json.dumps(headers),
        )

    async def run(self, events: list[Any]) -> float:
        await self._copy([self._row(e, p, h) for e, p, h in events])
        started = time.perf_counter()
        published = 0
        while (n := await self.relay.relay_once()) > 0:
            published += n
        elapsed = time.perf_counter() - started
        if published != len(events):
            raise RuntimeError(f"relay published {published} of {len(events)}")
        return published / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs; medians count")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the relay's own")
    args = parser.parse_args()
    default_batch_size: int = inspect.signature(OutboxRelay).parameters["batch_size"].default
    batch_size: int = args.batch_size or default_batch_size

    local_database, local_kafka = local_endpoints()
    admin_url = make_url(os.environ.get("KOMMUNE_TEST_DATABASE_URL", local_database))
    admin_dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    bootstrap = os.environ.get("KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS", local_kafka)

    suffix = uuid.uuid4().hex[:10]
    raw_topic, relay_topic = f"bench.raw.{suffix}", f"bench.relay.{suffix}"
    await ensure_topics(bootstrap, [TopicSpec(t, partitions=3) for t in (raw_topic, relay_topic)])
    raw_rates: list[float] = []
    relay_rates: list[float] = []
    try:
        events = _events(args.events, relay_topic)
        value_size = statistics.mean(len(json.dumps(p).encode()) for _, p, _ in events)
        async with (
            RawProducer(bootstrap, raw_topic) as raw,
            RelayRun(admin_dsn, bootstrap, relay_topic, batch_size) as relay,
        ):
            # Alternate, so that load from other work on a shared machine hits both alike.
            for round_ in range(1, args.rounds + 1):
                raw_rates.append(await raw.run(events))
                relay_rates.append(await relay.run(events))
                print(
                    f"round {round_}: raw {raw_rates[-1]:9,.0f} msg/s   "
                    f"relay {relay_rates[-1]:9,.0f} events/s"
                )
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([raw_topic, relay_topic])
        finally:
            await admin.close()

    raw_rate, relay_rate = statistics.median(raw_rates), statistics.median(relay_rates)
    print(f"events: {args.events} x {args.rounds} rounds, payload ≈{value_size:.0f} B JSON + ce_*")
    print(f"raw aiokafka (idempotent, all acks awaited): {raw_rate:10,.0f} messages/s (median)")
    print(f"outbox relay (batch {batch_size}):{' ' * 13}{relay_rate:10,.0f} events/s (median)")
    print(f"ratio relay/raw: {relay_rate / raw_rate:.2f}")
    # The machine is shared: load drifts within a run, so the ratio of each round (raw and
    # relay measured back to back) is steadier than the ratio of the medians.
    per_round = sorted(r / b for r, b in zip(relay_rates, raw_rates, strict=True))
    print(
        f"ratio per round: {', '.join(f'{r:.2f}' for r in per_round)}; "
        f"median {statistics.median(per_round):.2f}"
    )
    notes = (
        f"median of {args.rounds} alternating rounds of {args.events} events "
        f"(≈{value_size:.0f} B JSON + ce_* headers, {AGGREGATES} aggregates, 3 partitions); "
        f"relay batch_size={batch_size}; both with the relay's producer settings"
    )
    merge(
        [
            result(
                "outbox_relay_throughput",
                relay_rate,
                "events/s",
                baseline_name="aiokafka_idempotent_producer_throughput",
                baseline_value=raw_rate,
                notes=notes,
            )
        ]
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
