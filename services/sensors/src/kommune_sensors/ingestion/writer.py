"""The consumer group that writes readings to PostgreSQL, in batches, exactly once per reading.

Each poll takes up to ``writer_max_records`` records (a record holds one datastream's readings
of one request), COPYs all their readings into a temporary staging table, and moves them into
``observations`` with ``INSERT ... ON CONFLICT DO NOTHING``. The rows that were really inserted
(``RETURNING``) update the hourly and daily roll-ups and each datastream's latest value and
count in the same statement, so a reading delivered twice (a device retry, a redelivery after a
crash between the commit and the offset commit) is stored and counted once. Offsets are
committed after the database commit: at least once from Kafka, exactly once in the tables.

A datastream's records all land on one partition (the key), so one writer at a time owns its
``datastreams``, roll-up and "latest" rows: no lock contention between writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from kommune.db import create_engine, create_sessionmaker, transaction
from kommune.events.shutdown import stop_kafka_client
from kommune.events.topics import TopicNamespace, ensure_topics
from kommune_sensors.alerts.service import evaluate_fill_levels
from kommune_sensors.clock import utc_now
from kommune_sensors.events import OBSERVATION_TOPIC, TOPICS
from kommune_sensors.ingestion.partitions import create_partitions, existing_partitions, maintain
from kommune_sensors.settings import SensorsSettings

log = structlog.get_logger(__name__)

STAGING = "observations_staging"
CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (datastream_id bigint, "
    "phenomenon_time timestamptz, result double precision, parameters jsonb) "
    "ON COMMIT DELETE ROWS"
)
COLUMNS = ("datastream_id", "phenomenon_time", "result", "parameters")

MOVE_AND_ROLL_UP = f"""
WITH inserted AS (
    INSERT INTO observations (datastream_id, phenomenon_time, result, parameters)
    SELECT s.datastream_id, s.phenomenon_time, s.result, s.parameters
    FROM {STAGING} s JOIN datastreams d ON d.id = s.datastream_id
    ON CONFLICT DO NOTHING
    RETURNING datastream_id, phenomenon_time, result
), hourly AS (
    INSERT INTO observations_hourly AS h (datastream_id, bucket, count, sum, min, max)
    SELECT datastream_id, date_trunc('hour', phenomenon_time, 'UTC'), count(*), sum(result),
           min(result), max(result)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (datastream_id, bucket) DO UPDATE SET
        count = h.count + excluded.count, sum = h.sum + excluded.sum,
        min = least(h.min, excluded.min), max = greatest(h.max, excluded.max)
), daily AS (
    INSERT INTO observations_daily AS d (datastream_id, day, count, sum, min, max)
    SELECT datastream_id, (phenomenon_time AT TIME ZONE 'Europe/Berlin')::date, count(*),
           sum(result), min(result), max(result)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (datastream_id, day) DO UPDATE SET
        count = d.count + excluded.count, sum = d.sum + excluded.sum,
        min = least(d.min, excluded.min), max = greatest(d.max, excluded.max)
), latest AS (
    SELECT datastream_id, count(*) AS n, max(phenomenon_time) AS t,
           (array_agg(result ORDER BY phenomenon_time DESC))[1] AS r
    FROM inserted GROUP BY datastream_id
), touched AS (
    UPDATE datastreams AS ds SET
        observation_count = ds.observation_count + latest.n,
        latest_result = CASE WHEN ds.latest_phenomenon_time IS NULL
            OR latest.t >= ds.latest_phenomenon_time THEN latest.r ELSE ds.latest_result END,
        latest_phenomenon_time = greatest(ds.latest_phenomenon_time, latest.t)
    FROM latest WHERE ds.id = latest.datastream_id
    RETURNING ds.id
)
SELECT i.datastream_id, count(*) AS n,
       CASE WHEN d.kind = 'fill_level'
            THEN array_agg(i.result ORDER BY i.phenomenon_time) END AS fill_levels
FROM inserted i JOIN datastreams d ON d.id = i.datastream_id
GROUP BY i.datastream_id, d.kind
"""  # noqa: S608 - constants only

Row = tuple[int, datetime, float, str | None]


def rows_of(record: ConsumerRecord[Any, Any]) -> list[Row]:
    """The staging rows of one record; a record that is not ours is skipped (and counted)."""
    data = json.loads(record.value)
    stream_id = int(data["datastream_id"])
    rows: list[Row] = []
    for item in data["observations"]:
        parameters = item.get("parameters")
        rows.append(
            (
                stream_id,
                datetime.fromisoformat(item["phenomenon_time"]),
                float(item["result"]),
                None if parameters is None else json.dumps(parameters, separators=(",", ":")),
            )
        )
    return rows


@dataclass
class Stored:
    """What a batch added: its new rows, and the new fill levels per container datastream in
    time order (for the alerts; redelivered readings are not new and do not count)."""

    count: int = 0
    fill_levels: dict[int, list[float]] = field(default_factory=dict)


async def store(conn: asyncpg.Connection, rows: list[Row], known_days: set[date]) -> Stored:
    """Write ``rows`` (exactly once each). ``known_days`` caches the existing partitions."""
    days = {row[1].astimezone(UTC).date() for row in rows}
    if not days <= known_days:
        await create_partitions(conn, days)
        known_days |= await existing_partitions(conn)
    async with conn.transaction():
        await conn.execute(CREATE_STAGING)
        await conn.copy_records_to_table(STAGING, records=rows, columns=COLUMNS)
        inserted = await conn.fetch(MOVE_AND_ROLL_UP)
    stored = Stored()
    for row in inserted:
        stored.count += int(row["n"])
        if row["fill_levels"] is not None:
            stored.fill_levels[int(row["datastream_id"])] = list(row["fill_levels"])
    return stored


class ObservationWriter:
    """The background task: poll, store, commit offsets; and the partition maintenance."""

    def __init__(self, settings: SensorsSettings, dsn: str) -> None:
        self.settings = settings
        self.dsn = dsn
        namespace = TopicNamespace(settings.kafka_topic_prefix)
        self.topic = namespace.topic(OBSERVATION_TOPIC)
        self.group = namespace.group(f"{settings.consumer_group_prefix}.observation-writer")
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._conn: asyncpg.Connection | None = None
        self._engine = create_engine(
            settings.database_url, pool_size=2, application_name="sensors-writer"
        )
        self._sessions = create_sessionmaker(self._engine)
        self.stored = 0

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="sensors-observation-writer"),
            asyncio.create_task(self._maintain(), name="sensors-partition-maintenance"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._consumer is not None:
            await stop_kafka_client("observation writer", self._consumer, within=5.0)
        await self._engine.dispose()

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn, server_settings={"application_name": "sensors-writer", "timezone": "UTC"}
        )

    async def _maintain(self) -> None:
        while True:
            try:
                conn = await self._connect()
                try:
                    await maintain(
                        conn,
                        utc_now(),
                        ahead_days=self.settings.partitions_ahead_days,
                        retention_days=self.settings.raw_retention_days,
                    )
                finally:
                    await conn.close()
            except Exception as error:
                log.warning("partition_maintenance_failed", error=type(error).__name__)
            await asyncio.sleep(self.settings.maintenance_interval_seconds)

    async def _run(self) -> None:
        delay = 0.5
        while True:  # Kafka may be down at start: keep trying, the API serves meanwhile
            consumer: AIOKafkaConsumer | None = None
            try:
                await ensure_topics(
                    self.settings.kafka_bootstrap_servers,
                    [spec for spec in TOPICS if spec.name == OBSERVATION_TOPIC],
                    prefix=self.settings.kafka_topic_prefix,
                )
                consumer = AIOKafkaConsumer(
                    self.topic,
                    bootstrap_servers=self.settings.kafka_bootstrap_servers,
                    group_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_partition_fetch_bytes=8 * 1024 * 1024,
                    fetch_max_bytes=32 * 1024 * 1024,
                )
                await consumer.start()
                self._consumer = consumer
                break
            except Exception as error:
                log.warning("writer_connect_failed", error=type(error).__name__, retry_in=delay)
                if consumer is not None:
                    await stop_kafka_client("observation writer", consumer, within=2.0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        try:
            await self._consume(consumer)
        finally:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        known_days: set[date] = set()
        while True:
            stored = Stored()
            batches = await consumer.getmany(
                timeout_ms=500, max_records=self.settings.writer_max_records
            )
            rows: list[Row] = []
            for records in batches.values():
                for record in records:
                    try:
                        rows.extend(rows_of(record))
                    except (ValueError, KeyError, TypeError):
                        # Never log the content: it might be what the privacy filter is for.
                        log.error("observation_record_unreadable", offset=record.offset)
            delay = 0.5
            while rows:
                try:
                    if self._conn is None or self._conn.is_closed():
                        self._conn = await self._connect()
                        known_days = set()
                    stored = await store(self._conn, rows, known_days)
                    self.stored += stored.count
                    break
                except (OSError, asyncpg.PostgresError) as error:
                    log.warning("observation_store_failed", error=type(error).__name__)
                    if self._conn is not None:
                        with contextlib.suppress(Exception):
                            await self._conn.close()
                    self._conn = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            if stored.fill_levels:
                await self._evaluate_alerts(stored.fill_levels)
            if batches:
                await consumer.commit()

    async def _evaluate_alerts(self, fill_levels: dict[int, list[float]]) -> None:
        """Container alerts from the new fill levels (a second transaction after the rows'). If
        it fails, or the process dies in between, the next reading of a container that is still
        full raises the alert: the decision starts from the stored open/closed state."""
        try:
            async with transaction(self._sessions) as session:
                await evaluate_fill_levels(session, fill_levels, self.settings.waste_full_threshold)
        except Exception as error:
            log.warning("alert_evaluation_failed", error=type(error).__name__)
