"""The outbox relay: publishes committed outbox rows to Kafka in order per aggregate, losing none.

How it stays correct:

* **One relay per service.** A background task takes a PostgreSQL *session* advisory lock
  (``pg_try_advisory_lock``) on a dedicated connection and does all its work on that connection.
  Other replicas retry the lock every ``lock_retry_interval``. Losing the connection loses the
  lock, so work and lock end together; the relay reconnects and competes again.
* **Select what is unsent, never "after the last id".** Insert order is not commit order: a
  transaction that inserted seq 7 may commit after one that inserted seq 8. A cursor would skip 7
  for ever (pyeventsourcing avoids that gap by serialising writers with a table lock; we keep
  writers concurrent and instead select ``WHERE published_at IS NULL ORDER BY seq``).
  ``FOR UPDATE SKIP LOCKED`` additionally keeps a relay that was cut off from its lock (e.g. a
  zombie session) from publishing the same rows concurrently.
* **Mark after the ack.** Rows are sent with an idempotent producer (``acks=all``) without waiting
  per record, then the batch's acks are awaited and ``published_at`` is set in the same
  transaction. If the process dies between the broker's ack and the commit, the rows are sent again
  by the next leader: *duplicates are possible, losses are not*. Consumers deduplicate by ``ce_id``
  in their inbox (:mod:`kommune.events.inbox`), so a duplicate has no second effect.
* **Order per aggregate.** Records of one aggregate share a key, hence a partition, and are sent in
  ``seq`` order; the idempotent producer keeps one request in flight per partition and retries in
  order. A row that failed before (``attempts > 0``) is retried *alone* for its aggregate: later
  rows of that aggregate wait for the next batch. A row that fails now holds back the rest of its
  aggregate in this batch; other aggregates keep flowing.
* **Kafka down.** Sends that are not acknowledged within ``publish_timeout`` roll the batch back
  (rows stay unsent) and are remembered; before the next batch the relay waits for them to settle
  and marks those the broker did take, so a broker outage does not produce duplicates. Meanwhile
  the relay backs off exponentially (capped at ``max_backoff``).
* **Namespace.** Outbox rows hold logical topic names; the relay sends to
  ``topic_prefix + topic`` (:class:`~kommune.events.topics.TopicNamespace`): the one place where
  the producing side maps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.events.envelope import encode_headers
from kommune.events.outbox import OUTBOX_CHANNEL
from kommune.events.topics import TopicNamespace

log = structlog.get_logger(__name__)

BACKLOG = Gauge("kommune_outbox_backlog", "Outbox rows not yet published to Kafka.", ["service"])
OLDEST_AGE = Gauge(
    "kommune_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
)
PUBLISHED = Counter("kommune_outbox_published", "Outbox rows published to Kafka.", ["service"])
PUBLISH_ERRORS = Counter(
    "kommune_outbox_publish_errors",
    "Failed attempts to publish outbox rows (per row, or per batch when Kafka is unreachable).",
    ["service"],
)

_SELECT_BATCH = """
SELECT id, aggregateid, topic, payload::text AS payload, headers::text AS headers, attempts
FROM outbox
WHERE published_at IS NULL
ORDER BY seq
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_MARK_PUBLISHED = (
    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL"
)
_RECORD_FAILURE = (
    "UPDATE outbox SET attempts = attempts + 1, last_error = left($2, 2000) WHERE id = $1"
)
_BACKLOG = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM outbox WHERE published_at IS NULL"
)
_PURGE = text(
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL "
    "AND published_at < now() - make_interval(days => :days) LIMIT :limit)"
)


PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable_idempotence": True,
    "acks": "all",
    # A batch is appended without yielding, so records group into large requests even with
    # linger 0, and a lone event goes out at once.
    "linger_ms": 0,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 30_000,
}
"""The relay's producer settings (``producer_options`` overrides them); the benchmark's too."""


class KafkaUnavailableError(RuntimeError):
    """The broker did not acknowledge in time; the rows stay unsent and the relay backs off."""


def advisory_lock_key(service_name: str) -> int:
    """A stable signed 64-bit key per service (advisory locks are scoped to one database)."""
    digest = hashlib.sha256(f"kommune.outbox.relay:{service_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class OutboxRelay:
    """Publishes a service's outbox to Kafka; see the module docstring for the guarantees."""

    def __init__(
        self,
        engine: AsyncEngine,
        dsn: str,
        bootstrap_servers: str,
        service_name: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        lock_retry_interval: float = 2.0,
        max_backoff: float = 5.0,
        retention_days: int = 7,
        housekeeping_interval: float = 3600.0,
        metrics_interval: float = 5.0,
        producer_options: Mapping[str, Any] | None = None,
        topic_prefix: str = "",
    ) -> None:
        self._engine = engine
        self.namespace = TopicNamespace(topic_prefix)
        self._dsn = dsn
        self._bootstrap_servers = bootstrap_servers
        self.service_name = service_name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.lock_retry_interval = lock_retry_interval
        self.max_backoff = max_backoff
        self.retention_days = retention_days
        self.housekeeping_interval = housekeeping_interval
        self.metrics_interval = metrics_interval
        self._producer_options = dict(producer_options or {})
        self._lock_key = advisory_lock_key(service_name)

        self._conn: asyncpg.Connection | None = None
        self._is_leader = False
        self._producer: AIOKafkaProducer | None = None
        # Sends of a timed-out batch that the producer may still deliver: (row id, future).
        self._inflight: list[tuple[uuid.UUID, asyncio.Future[Any]]] = []
        self._work_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_batch_full = False
        self._next_metrics = 0.0
        self._next_housekeeping = 0.0

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this instance holds the service's relay lock."""
        return self._is_leader and self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Start relaying in the background; returns at once (Kafka or PostgreSQL may be down)."""
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service_name}")

    async def stop(self) -> None:
        """Stop promptly: let a running batch finish for a moment, then cancel; close everything."""
        self._stopping.set()
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if not done:
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=2.0)
                if not done and self._conn is not None:
                    self._conn.terminate()  # a hung query: cut the connection, the task ends
                    await asyncio.wait({task}, timeout=2.0)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("outbox_relay_crashed", exc_info=task.exception())
        async with self._work_lock:
            await self._close_producer()
            await self._close_connection()

    # ---- one batch -----------------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Publish one batch if this instance holds (or can take) the lock; return rows published.

        Raises :class:`KafkaUnavailableError` (or a Kafka or database error) if nothing went out.
        """
        async with self._work_lock:
            conn = await self._leader_connection()
            if conn is None:
                return 0
            try:
                producer = await self._ensure_producer()
                await self._settle_inflight(conn)
                return await self._publish_batch(conn, producer)
            except (KafkaError, KafkaUnavailableError, TimeoutError):
                raise
            except Exception:
                # Database trouble: drop the connection (and with it the lock) and start afresh.
                await self._close_connection()
                raise

    async def _publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        published: list[uuid.UUID] = []
        failures: list[tuple[uuid.UUID, str]] = []
        async with conn.transaction():
            rows = await conn.fetch(_SELECT_BATCH, self.batch_size)
            self._last_batch_full = len(rows) >= self.batch_size
            if not rows:
                return 0
            sends: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
            held_back: set[str] = set()
            try:
                async with asyncio.timeout(self.publish_timeout):
                    for row in rows:
                        aggregate = row["aggregateid"]
                        if aggregate in held_back:
                            continue
                        try:
                            future = await producer.send(
                                self.namespace.topic(row["topic"]),
                                value=row["payload"].encode(),
                                key=aggregate.encode(),
                                headers=encode_headers(json.loads(row["headers"])),
                            )
                        except KafkaError as exc:  # e.g. record too large, unknown topic
                            failures.append((row["id"], f"{type(exc).__name__}: {exc}"))
                            held_back.add(aggregate)
                            continue
                        sends.append((row, future))
                        if row["attempts"]:
                            held_back.add(aggregate)  # a retried row goes alone
                    if sends:
                        await asyncio.wait([future for _, future in sends])
            except TimeoutError:
                self._inflight = [(row["id"], future) for row, future in sends]
                PUBLISH_ERRORS.labels(self.service_name).inc()
                raise KafkaUnavailableError(
                    f"Kafka did not acknowledge {len(sends)} record(s) "
                    f"within {self.publish_timeout}s"
                ) from None
            failed_ids = {row_id for row_id, _ in failures}
            failed_aggregates = {row["aggregateid"] for row in rows if row["id"] in failed_ids}
            for row, future in sends:
                error = future.exception()
                if error is None:
                    published.append(row["id"])
                    if row["aggregateid"] in failed_aggregates:
                        log.warning("outbox_order_at_risk", aggregateid=row["aggregateid"])
                else:
                    failures.append((row["id"], f"{type(error).__name__}: {error}"))
                    failed_aggregates.add(row["aggregateid"])
            if published:
                await conn.execute(_MARK_PUBLISHED, published)
            if failures:
                await conn.executemany(_RECORD_FAILURE, failures)
        if published:
            PUBLISHED.labels(self.service_name).inc(len(published))
        if failures:
            PUBLISH_ERRORS.labels(self.service_name).inc(len(failures))
            log.warning(
                "outbox_publish_failed",
                failed=len(failures),
                published=len(published),
                first_error=failures[0][1],
            )
            if not published:
                raise KafkaUnavailableError(f"no row of the batch was published: {failures[0][1]}")
        return len(published)

    async def _settle_inflight(self, conn: asyncpg.Connection) -> None:
        """Wait for the sends of a timed-out batch; mark those Kafka took so they are not resent."""
        if not self._inflight:
            return
        futures = [future for _, future in self._inflight]
        _, pending = await asyncio.wait(futures, timeout=self.publish_timeout)
        if pending:
            raise KafkaUnavailableError(
                f"{len(pending)} record(s) of an earlier batch still unacknowledged"
            )
        delivered = [
            row_id
            for row_id, future in self._inflight
            if not future.cancelled() and future.exception() is None
        ]
        if delivered:
            await conn.execute(_MARK_PUBLISHED, delivered)
            PUBLISHED.labels(self.service_name).inc(len(delivered))
            log.info("outbox_inflight_settled", delivered=len(delivered))
        self._inflight = []

    # ---- background loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wakeup.clear()  # before the SELECT: a NOTIFY during the batch is not lost
            try:
                await self.relay_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self.max_backoff, 0.1 * 2**failures)
                log.warning(
                    "outbox_relay_retry",
                    error=f"{type(exc).__name__}: {exc}",
                    attempt=failures,
                    retry_in=round(delay, 2),
                )
                await self._sleep(delay)
                continue
            if not self.is_leader:
                await self._sleep(self.lock_retry_interval)
                continue
            await self._maintenance()
            if not self._last_batch_full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _maintenance(self) -> None:
        """Metrics and housekeeping, through the service's pool (not the relay's connection)."""
        now = time.monotonic()
        try:
            if now >= self._next_metrics:
                self._next_metrics = now + self.metrics_interval
                await self.refresh_metrics()
            if now >= self._next_housekeeping:
                self._next_housekeeping = now + self.housekeeping_interval
                await self.purge_published()
        except Exception as exc:
            log.warning("outbox_maintenance_failed", error=f"{type(exc).__name__}: {exc}")

    async def refresh_metrics(self) -> tuple[int, float]:
        """Update the backlog gauges; return (unsent rows, age of the oldest in seconds)."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(_BACKLOG)).one()
        backlog, age = int(row[0]), float(row[1])
        BACKLOG.labels(self.service_name).set(backlog)
        OLDEST_AGE.labels(self.service_name).set(age)
        return backlog, age

    async def purge_published(self, *, chunk: int = 10_000) -> int:
        """Delete rows published more than ``retention_days`` ago, in chunks; return how many."""
        total = 0
        while True:
            async with self._engine.begin() as connection:
                result = await connection.execute(
                    _PURGE, {"days": self.retention_days, "limit": chunk}
                )
            deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < chunk:
                break
        if total:
            log.info("outbox_purged", rows=total, older_than_days=self.retention_days)
        return total

    # ---- resources -----------------------------------------------------------------------------

    async def _leader_connection(self) -> asyncpg.Connection | None:
        """The dedicated connection if it holds the lock (taking it if free), else None."""
        if self._conn is not None and self._conn.is_closed():
            await self._close_connection()
        if self._conn is None:
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=10,
                command_timeout=max(30.0, self.publish_timeout * 3),
                server_settings={
                    "application_name": f"{self.service_name}-outbox-relay",
                    "timezone": "UTC",
                },
            )
        if not self._is_leader:
            got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key)
            if not got:
                return None
            self._is_leader = True
            await self._conn.add_listener(OUTBOX_CHANNEL, self._notified)
            self._next_metrics = 0.0
            log.info("outbox_relay_leader", service=self.service_name)
        return self._conn

    def _notified(self, *_: object) -> None:
        self._wakeup.set()

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        was_leader, self._is_leader = self._is_leader, False
        if was_leader:
            log.info("outbox_relay_released", service=self.service_name)
            for gauge in (BACKLOG, OLDEST_AGE):
                with contextlib.suppress(KeyError):
                    gauge.remove(self.service_name)
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:
                conn.terminate()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is not None and _sender_died(self._producer):
            log.warning("outbox_producer_restart", service=self.service_name)
            await self._close_producer()
        if self._producer is None:
            options: dict[str, Any] = {
                **PRODUCER_DEFAULTS,
                "bootstrap_servers": self._bootstrap_servers,
                "client_id": f"{self.service_name}-outbox-relay",
            }
            options.update(self._producer_options)
            producer = AIOKafkaProducer(**options)
            try:
                await asyncio.wait_for(producer.start(), self.publish_timeout)
            except BaseException:
                await _close_producer(producer, 0)
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        self._inflight = []
        if producer is not None:
            await _close_producer(producer, 2.0)


async def _close_producer(producer: AIOKafkaProducer, flush_timeout: float) -> None:
    """Stop a producer without hanging when the broker is unreachable.

    ``AIOKafkaProducer.stop()`` waits until every pending record is delivered; with the broker
    gone that is for ever. After ``flush_timeout`` the pending records are failed (their rows are
    still unsent in the outbox, so nothing is lost) and the producer stops at once.
    """
    try:
        await asyncio.wait_for(producer.flush(), flush_timeout)
    except Exception:
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is not None:
            accumulator.fail_all(KafkaConnectionError("producer closed before delivery"))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 5.0)


def _sender_died(producer: AIOKafkaProducer) -> bool:
    """aiokafka fails every pending record when its sender task dies; the producer is dead."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    return task is not None and task.done()
