"""Sensor ingestion end to end next to raw aiokafka and raw asyncpg COPY, in the same run.

(a) end to end: the sensors app (in process, its real lifespan: producer, writer group,
    partitions) takes N readings as JSON batches on ``POST /api/v1/sensors/observations`` with a
    device key, C requests in flight; the clock stops when all N rows are in ``observations``
    (roll-ups and latest values included) → readings/s.
(b) raw aiokafka: an idempotent producer sends the same N readings, one message each, keyed by
    datastream, all acks awaited → readings/s (what Kafka alone costs per reading).
(c) raw asyncpg COPY of the same N rows into a plain table (no keys, no partitions) → rows/s.

    uv run python bench/bench_sensors_ingest.py [--readings 200000] [--batch 5000] [--concurrency 4]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` / ``KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS``, else the running
project-local ones. A fresh database and topic namespace per run, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from aiokafka import AIOKafkaProducer
from results import merge, result
from sqlalchemy.engine import make_url

from kommune.db import create_engine, create_sessionmaker, transaction
from kommune.events.topics import TopicSpec, ensure_topics
from kommune.migrations import upgrade
from kommune.testing.auth import lifespan_client
from kommune.testing.infra import local_endpoints
from kommune_sensors.device_auth import new_key
from kommune_sensors.devices.models import Datastream, DeviceKey, ObservedProperty, Sensor, Thing
from kommune_sensors.main import create_app
from kommune_sensors.settings import SensorsSettings

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "sensors" / "alembic.ini"
DATASTREAMS = 100


def readings(count: int, stream_ids: list[int]) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    return [
        {
            "datastream": stream_ids[n % len(stream_ids)],
            "phenomenonTime": (start + timedelta(seconds=n // len(stream_ids))).isoformat(),
            "result": n % 50,
            "parameters": {"direction": "in" if n % 2 else "out"},
        }
        for n in range(count)
    ]


async def register(url: str) -> tuple[list[int], str]:
    """One thing with DATASTREAMS count datastreams and a device key (through the models)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            thing = Thing(name="Bench", description="", properties={}, published=False)
            sensor = Sensor(name="s", description="", encoding_type="text/plain", metadata_="")
            prop = ObservedProperty(name="p", definition="urn:bench", description="")
            session.add_all([thing, sensor, prop])
            await session.flush()
            streams = [
                Datastream(
                    name=f"ds{n}",
                    description="",
                    kind="count",
                    unit_of_measurement={"name": "count", "symbol": "1", "definition": "-"},
                    thing_id=thing.id,
                    sensor_id=sensor.id,
                    observed_property_id=prop.id,
                    observation_count=0,
                )
                for n in range(DATASTREAMS)
            ]
            session.add_all(streams)
            key_id = uuid.uuid4()
            text, digest = new_key(key_id)
            session.add(
                DeviceKey(id=key_id, thing_id=thing.id, secret_sha256=digest, created_by="bench")
            )
            await session.flush()
            return [s.id for s in streams], text
    finally:
        await engine.dispose()


async def end_to_end(
    url: str,
    bootstrap: str,
    prefix: str,
    rows: list[dict[str, Any]],
    key: str,
    batch: int,
    concurrency: int,
) -> float:
    settings = SensorsSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_KAFKA_TOPIC_PREFIX": prefix,
            "database_url": url,
            "kafka_bootstrap_servers": bootstrap,
            "consumer_group_prefix": f"bench-{uuid.uuid4().hex[:8]}",
            "relay_enabled": False,
            "max_batch_rows": batch,
        }
    )
    bodies = [json.dumps(rows[i : i + batch]).encode() for i in range(0, len(rows), batch)]
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        async with lifespan_client(create_app(settings)) as client:
            warm = await client.post(
                "/api/v1/sensors/observations",
                content=json.dumps(rows[:1]).encode(),
                headers=headers,
            )
            assert warm.status_code == 202, warm.text
            # The writer group joined and wrote the first row (the database has no event to await).
            while await conn.fetchval("SELECT count(*) FROM observations") < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            queue = list(bodies)
            started = time.perf_counter()

            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    response = await client.post(
                        "/api/v1/sensors/observations", content=body, headers=headers
                    )
                    assert response.status_code == 202, response.text

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            accepted = time.perf_counter() - started
            deadline = started + 600
            while await conn.fetchval("SELECT count(*) FROM observations") < len(rows):
                if time.perf_counter() > deadline:
                    raise TimeoutError("the writer did not store every reading in 10 minutes")
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    print(
        f"  all {len(rows):,} accepted (202) after {accepted:.2f} s, stored after {elapsed:.2f} s"
    )
    return len(rows) / elapsed


async def raw_kafka(bootstrap: str, topic: str, rows: list[dict[str, Any]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=2)
    await producer.start()
    try:
        encoded = [(str(r["datastream"]).encode(), json.dumps(r).encode()) for r in rows]
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in encoded]
        await asyncio.gather(*futures)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_copy(url: str, rows: list[dict[str, Any]]) -> float:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "CREATE TABLE raw_copy (datastream_id bigint, phenomenon_time timestamptz, "
            "result double precision, parameters jsonb)"
        )
        records = [
            (
                r["datastream"],
                datetime.fromisoformat(r["phenomenonTime"]),
                float(r["result"]),
                json.dumps(r["parameters"]),
            )
            for r in rows
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("raw_copy", records=records)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="readings per request")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    local_database, local_kafka = local_endpoints()
    admin_url = make_url(os.environ.get("KOMMUNE_TEST_DATABASE_URL", local_database))
    admin_dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    bootstrap = os.environ.get("KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS", local_kafka)
    suffix = uuid.uuid4().hex[:10]
    database = f"bench_sensors_{suffix}"
    prefix = f"bench{suffix}."
    url = admin_url.set(drivername="postgresql+asyncpg", database=database).render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    raw_topic = f"{prefix}bench.raw"
    try:
        await upgrade(ALEMBIC_INI, url)
        stream_ids, key = await register(url)
        rows = readings(args.readings, stream_ids)
        await ensure_topics(bootstrap, [TopicSpec(raw_topic, partitions=12)])
        print(
            f"{args.readings:,} readings, {DATASTREAMS} datastreams, batches of {args.batch}, "
            f"{args.concurrency} in flight"
        )
        e2e = await end_to_end(url, bootstrap, prefix, rows, key, args.batch, args.concurrency)
        kafka = await raw_kafka(bootstrap, raw_topic, rows)
        copy = await raw_copy(url, rows)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    print(f"end to end (HTTP → Kafka → COPY → table): {e2e:10,.0f} readings/s")
    print(f"raw aiokafka, one message per reading:     {kafka:10,.0f} readings/s")
    print(f"raw asyncpg COPY into a plain table:       {copy:10,.0f} rows/s")
    notes = (
        f"{args.readings} readings over {DATASTREAMS} datastreams, JSON batches of {args.batch} "
        f"with a device key, {args.concurrency} in flight, app in process (ASGI, no socket); "
        "clock stops when every row is in observations (roll-ups and latest included)"
    )
    merge(
        [
            result(
                "sensors_ingest_end_to_end",
                e2e,
                "readings/s",
                baseline_name="asyncpg_copy_plain_table",
                baseline_value=copy,
                notes=notes,
            ),
            result(
                "sensors_ingest_end_to_end_vs_kafka",
                e2e,
                "readings/s",
                baseline_name="aiokafka_one_message_per_reading",
                baseline_value=kafka,
                notes=notes,
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
