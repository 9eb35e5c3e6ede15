"""The outbox relay: publishes committed outbox rows to Kafka in order per aggregate, losing none.

How it stays correct:

* **One relay per service.** A background task takes a PostgreSQL *session* advisory lock
  (``pg_try_advisory_lock``) on a dedicated connection and does all its work on that connection.
  Other replicas retry the lock every ``lock_retry_interval``. Losing the connection loses the
  lock, so work and lock end together; the relay reconnects and competes again.
* **Every row in the outbox is unsent.** A sent row is deleted, so the table is a queue, not a
  log: Kafka keeps what was published (for each topic's retention) and the consumers' inboxes
  keep what was processed. Insert order is not commit order (a transaction that inserted seq 7
  may commit after one that inserted seq 8), so the relay never reads "after the last id", which
  would skip 7 for ever (pyeventsourcing avoids that gap by serialising writers with a table
  lock; we keep writers concurrent and read the whole queue ``ORDER BY seq``).
  ``FOR UPDATE SKIP LOCKED`` additionally keeps a relay that was cut off from its lock (e.g. a
  zombie session) from publishing the same rows concurrently.
* **Delete after the ack.** Rows are sent with an idempotent producer (``acks=all``) without
  waiting per record; a row is deleted only once the broker acknowledged it, in the same
  transaction that locked it. If the process dies between the broker's ack and the commit,
  the rows are sent again by the next leader: *duplicates are possible, losses are not*.
  Consumers deduplicate by ``ce_id`` in their inbox (:mod:`kommune.events.inbox`), so a
  duplicate has no second effect. For the same reason the relay's session commits with
  ``synchronous_commit = off``: a delete lost in a crash is a duplicate, never a loss.
  (Deleting costs PostgreSQL about a third of what marking a ``published_at`` did: no new row
  version, no index entries; see ADR 0003.)
* **Pipelined.** A batch (``batch_size`` rows, one transaction) is read through a cursor in
  chunks of :data:`FETCH_CHUNK`; while chunk *k* is appended to the producer and acknowledged,
  the connection deletes the sent rows of chunk *k-1* and reads chunk *k+1* (PostgreSQL, Python
  and the broker work at the same time). The key's partition is Kafka's default (murmur2),
  computed once per aggregate.
* **Order per aggregate.** Records of one aggregate share a key, hence a partition, and are sent in
  ``seq`` order; the idempotent producer keeps one request in flight per partition and retries in
  order. Writers of one aggregate are serialised by :meth:`Outbox.add`'s advisory lock, so
  ``seq`` order is their commit order. A row that failed before (``attempts > 0``) is retried
  *alone* for its aggregate; its aggregate's later rows are not even selected until it is sent
  (they never fill a batch). A row that fails now holds back the rest of its aggregate in this
  batch; other aggregates keep flowing.
* **One row fails on its own.** Every send has its own time limits: appending to the producer
  (:data:`APPEND_TIMEOUT`; a stuck topic fails its other rows of the batch at once) and the
  broker's acknowledgement (``publish_timeout``). A topic that does not exist fails its rows at
  once (one metadata request), not after the producer's 30 s metadata wait. A failure, or an
  acknowledgement that does not come while the broker answers metadata requests, is *that row's*
  failure: ``attempts`` grows, the row backs off exponentially (``next_attempt_at``), and after
  ``park_after_attempts`` it is **parked** (``parked_at``): kept, counted in
  ``kommune_outbox_parked`` and the ``/readyz`` ``outbox`` detail, re-driven by an operator
  (``python -m kommune.events.admin outbox parked|redrive``). Its aggregate waits; every other
  aggregate flows.
* **Kafka down.** When nothing is acknowledged and the broker does not answer either, the rows of
  the unsettled chunks stay unsent (attempts untouched: an outage is no row's fault) and are
  remembered; before the next batch the relay waits for them to settle and deletes those the
  broker did take, so a broker outage does not produce duplicates. Meanwhile the relay backs off
  exponentially (capped at ``max_backoff``).
* **Leader connection.** TCP keepalives on both ends (:data:`LEADER_KEEPALIVES`): a partitioned
  leader's session, and with it the relay lock, ends within about a minute. The connection may
  use its own URL (``relay_database_url``): session advisory locks and ``LISTEN`` need a real
  session, which a transaction-pooling PgBouncer does not keep.
* **Stopping** takes a bounded time whatever the broker does (:mod:`kommune.events.shutdown`).
* **Namespace.** Outbox rows hold logical topic names; the relay sends to
  ``topic_prefix + topic`` (:class:`~kommune.events.topics.TopicNamespace`): the one place where
  the producing side maps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import murmur2
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.events.outbox import OUTBOX_CHANNEL
from kommune.events.shutdown import (
    ABORT_GRACE_SECONDS,
    run_bounded,
    stop_kafka_client,
    wait_for_either,
)
from kommune.events.topics import TopicNamespace

log = structlog.get_logger(__name__)

BACKLOG = Gauge("kommune_outbox_backlog", "Outbox rows not yet published to Kafka.", ["service"])
OLDEST_AGE = Gauge(
    "kommune_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
)
PUBLISHED = Counter("kommune_outbox_published", "Outbox rows published to Kafka.", ["service"])
PARKED = Gauge(
    "kommune_outbox_parked",
    "Outbox rows set aside after failing too often; their aggregate's later rows wait "
    "(see `python -m kommune.events.admin outbox parked`).",
    ["service"],
)
PUBLISH_ERRORS = Counter(
    "kommune_outbox_publish_errors",
    "Failed attempts to publish outbox rows (per row, or per batch when Kafka is unreachable).",
    ["service"],
)

_SELECT_BATCH = """
SELECT o.id, o.aggregateid, o.topic, o.attempts,
       convert_to(o.aggregateid, 'UTF8') AS key,
       convert_to(o.payload::text, 'UTF8') AS value,
       o.headers::text AS headers
FROM outbox o
WHERE o.parked_at IS NULL
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
  AND NOT EXISTS (
      SELECT 1 FROM outbox f
      WHERE f.aggregateid = o.aggregateid AND f.attempts > 0 AND f.seq < o.seq
  )
ORDER BY o.seq
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""
"""Unsent rows in insert order, already as Kafka wants them (key, value and header values as
bytes: no JSON decoding or re-encoding per row in Python), except rows parked, waiting for their
retry, or behind an earlier row of their aggregate that failed (those wait, and never fill a
batch)."""
_DELETE_SENT = """
DELETE FROM outbox AS o
USING unnest($1::uuid[]) AS sent(id)
WHERE o.id = sent.id
"""
"""A join, not ``id = ANY($1)``: with thousands of ids that was a linear search of the array for
each row of a sequential scan (250 ms for 2,000 rows, half of a batch's time)."""
_RECORD_FAILURE = """
UPDATE outbox SET
    attempts = attempts + 1,
    last_error = left($2, 2000),
    next_attempt_at = now() + make_interval(secs => least($3::float8, $4::float8 * 2 ^ attempts)),
    parked_at = CASE WHEN attempts + 1 >= $5 THEN now() END
WHERE id = $1
RETURNING parked_at IS NOT NULL AS parked, aggregateid, attempts
"""
_BACKLOG = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0), "
    "count(*) FILTER (WHERE parked_at IS NOT NULL) "
    "FROM outbox"
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


LEADER_KEEPALIVES = {
    "tcp_keepalives_idle": "15",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "4",
    "tcp_user_timeout": "35000",
}
"""Server-side TCP keepalives of the leader connection (PostgreSQL settings, per session)."""
_NOT_ACCEPTED = "KafkaTimeoutError: not accepted"
FETCH_CHUNK = 1000
"""Rows read per round trip of a batch's cursor; the batch is ``batch_size`` rows."""
APPEND_TIMEOUT = 1.0
"""Seconds one record may take to be appended to the producer's buffer (normally instant)."""
LEADER_COMMIT = {"synchronous_commit": "off"}
"""The relay's own transactions only delete sent rows: if a crash loses such a commit, the rows
are sent again (a duplicate, which the inboxes absorb), never lost. Not waiting for the WAL flush
saves a disk round trip per batch. (Services' transactions keep the server's setting.)"""
STOP_TIMEOUT = 6.0
"""Seconds :meth:`OutboxRelay.stop` may take (plus short graces) with the broker gone."""


class KafkaUnavailableError(RuntimeError):
    """The broker did not acknowledge in time; the rows stay unsent and the relay backs off."""


def advisory_lock_key(service_name: str) -> int:
    """A stable signed 64-bit key per service (advisory locks are scoped to one database)."""
    digest = hashlib.sha256(f"kommune.outbox.relay:{service_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(slots=True)
class _AppendState:
    """What one batch's appends remember across its chunks."""

    held_back: set[str] = field(default_factory=set)
    stuck_topics: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Chunk:
    """Rows of a batch read in one round trip, appended together, deleted together once sent."""

    rows: list[asyncpg.Record]
    appended_at: float
    producer: AIOKafkaProducer
    sends: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = field(default_factory=list)
    failures: dict[uuid.UUID, str] = field(default_factory=dict)
    last_per_partition: dict[tuple[object, int], asyncio.Future[Any]] = field(default_factory=dict)
    settled: bool = False


class OutboxRelay:
    """Publishes a service's outbox to Kafka; see the module docstring for the guarantees."""

    def __init__(
        self,
        engine: AsyncEngine,
        dsn: str,
        bootstrap_servers: str,
        service_name: str,
        *,
        batch_size: int = 5000,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        lock_retry_interval: float = 2.0,
        max_backoff: float = 5.0,
        metrics_interval: float = 5.0,
        producer_options: Mapping[str, Any] | None = None,
        topic_prefix: str = "",
        park_after_attempts: int = 10,
        retry_backoff: float = 1.0,
        max_retry_backoff: float = 300.0,
        topics_ready: asyncio.Event | None = None,
    ) -> None:
        if park_after_attempts < 1:
            raise ValueError("park_after_attempts must be at least 1")
        self._engine = engine
        self.park_after_attempts = park_after_attempts
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self._topics_ready = topics_ready
        self.namespace = TopicNamespace(topic_prefix)
        self._dsn = dsn
        self._bootstrap_servers = bootstrap_servers
        self.service_name = service_name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.lock_retry_interval = lock_retry_interval
        self.max_backoff = max_backoff
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

    async def stop(self, within: float = STOP_TIMEOUT) -> None:
        """Stop within about ``within`` seconds whatever Kafka or PostgreSQL do; never raises.

        A running batch may finish for a moment; then it is cancelled (its transaction rolls
        back: the rows stay unsent), a hung query has its connection cut, and the producer is
        flushed briefly and stopped, or aborted if the broker does not answer. What could not be
        stopped is logged.
        """
        self._stopping.set()
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=within / 3)
            if not done:
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
                if not done and self._conn is not None:
                    self._conn.terminate()  # a hung query: cut the connection, the task ends
                    await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
        # Not behind the work lock: a batch stuck on the broker holds it.
        await self._close_producer(within / 3)
        await self._close_connection()
        if task is not None:
            if not task.done():  # it waited for the broker; the aborted producer released it
                await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
            if not task.done():
                log.error("outbox_relay_task_abandoned", service=self.service_name)
            elif not task.cancelled() and task.exception() is not None:
                log.error("outbox_relay_crashed", exc_info=task.exception())

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
        """One batch (up to ``batch_size`` rows, one transaction), pipelined in chunks.

        The rows are read through a cursor, :data:`FETCH_CHUNK` at a time. While the producer
        appends chunk *k* (Python) and the broker acknowledges it, the connection deletes the
        sent rows of chunk *k-1* (whose acks are in) and reads chunk *k+1*: PostgreSQL, Python
        and Kafka work at the same time. Locks and deletes end together at the commit.
        """
        published = 0
        unavailable: KafkaUnavailableError | None = None
        chunks: list[_Chunk] = []
        async with conn.transaction():
            state = _AppendState()
            cursor = await conn.cursor(_SELECT_BATCH, self.batch_size)
            rows_read = 0
            try:
                rows: list[asyncpg.Record] = await cursor.fetch(FETCH_CHUNK)
                previous: _Chunk | None = None
                while True:
                    rows_read += len(rows)
                    more = len(rows) == FETCH_CHUNK and rows_read < self.batch_size
                    # The connection's next work (settle the previous chunk, read the next one)
                    # runs while this chunk is appended.
                    database = asyncio.ensure_future(
                        self._settle_and_read(conn, cursor, previous, more)
                    )
                    current: _Chunk | None = None
                    try:
                        if rows:
                            current = await self._append_chunk(producer, rows, state)
                            chunks.append(current)
                    finally:
                        published_now, rows = await database
                    published += published_now
                    previous = current
                    if not more:
                        break
                if previous is not None:
                    published += (await self._settle_and_read(conn, cursor, previous, False))[0]
            except KafkaUnavailableError as exc:
                # Commit what the broker did acknowledge; the rest is settled next time.
                unavailable = exc
                self._inflight = [
                    (row["id"], future)
                    for chunk in chunks
                    if not chunk.settled
                    for row, future in chunk.sends
                ]
            except BaseException:
                for chunk in chunks:
                    for _, future in chunk.sends:
                        _retrieve_exception_later(future)
                raise
            self._last_batch_full = rows_read >= self.batch_size
        if unavailable is not None:
            PUBLISH_ERRORS.labels(self.service_name).inc()
            raise unavailable
        return published

    async def _append_chunk(
        self, producer: AIOKafkaProducer, rows: list[asyncpg.Record], state: _AppendState
    ) -> _Chunk:
        missing = await self._missing_topics(producer, {row["topic"] for row in rows})
        chunk = _Chunk(rows, asyncio.get_running_loop().time(), producer)
        chunk.sends = await self._append(producer, rows, missing, chunk.failures, state, chunk)
        return chunk

    async def _settle_and_read(
        self,
        conn: asyncpg.Connection,
        cursor: Any,
        chunk: _Chunk | None,
        read_more: bool,
    ) -> tuple[int, list[asyncpg.Record]]:
        """Settle ``chunk`` (wait for its acks, delete what was sent, record failures), then read
        the next rows."""
        published = await self._settle_chunk(conn, chunk) if chunk is not None else 0
        rows: list[asyncpg.Record] = await cursor.fetch(FETCH_CHUNK) if read_more else []
        return published, rows

    async def _settle_chunk(self, conn: asyncpg.Connection, chunk: _Chunk) -> int:
        """Wait for the chunk's acknowledgements (its own ``publish_timeout``); delete what was
        published, record each failure. Raises :class:`KafkaUnavailableError` if nothing came
        back and the broker does not answer."""
        loop = asyncio.get_running_loop()
        remaining = max(0.0, chunk.appended_at + self.publish_timeout - loop.time())
        if chunk.last_per_partition:
            # A partition's records are acknowledged in order: its last one stands for all.
            await asyncio.wait(chunk.last_per_partition.values(), timeout=remaining)
        sends, failures = chunk.sends, chunk.failures
        acked = any(f.done() and not f.cancelled() and not f.exception() for _, f in sends)
        stuck = any(error.startswith(_NOT_ACCEPTED) for error in failures.values())
        timed_out = stuck or any(not f.done() for _, f in sends)
        if timed_out and not acked and not await self._broker_answers(chunk.producer):
            # Nothing came back and the broker does not answer: Kafka is down, not a row.
            raise KafkaUnavailableError(
                f"Kafka did not acknowledge {len(sends)} record(s) within {self.publish_timeout}s"
            )
        published: list[uuid.UUID] = []
        failed_aggregates = {row["aggregateid"] for row in chunk.rows if row["id"] in failures}
        for row, future in sends:
            if not future.done():
                # The broker answers, but not for this record: the row's own failure.
                _retrieve_exception_later(future)
                failures[row["id"]] = (
                    f"KafkaTimeoutError: not acknowledged within {self.publish_timeout}s"
                )
                failed_aggregates.add(row["aggregateid"])
                continue
            error = future.exception()
            if error is None:
                published.append(row["id"])
                if row["aggregateid"] in failed_aggregates:
                    log.warning("outbox_order_at_risk", aggregateid=row["aggregateid"])
            else:
                failures[row["id"]] = _describe(error, self.publish_timeout)
                failed_aggregates.add(row["aggregateid"])
        if published:
            await conn.execute(_DELETE_SENT, published)
        parked = []
        for row_id, error_text in failures.items():
            outcome = await conn.fetchrow(
                _RECORD_FAILURE,
                row_id,
                error_text,
                self.max_retry_backoff,
                self.retry_backoff,
                self.park_after_attempts,
            )
            if outcome is not None and outcome["parked"]:
                parked.append((row_id, outcome["aggregateid"], error_text))
        chunk.settled = True
        if published:
            PUBLISHED.labels(self.service_name).inc(len(published))
        if failures:
            PUBLISH_ERRORS.labels(self.service_name).inc(len(failures))
            log.warning(
                "outbox_publish_failed",
                failed=len(failures),
                published=len(published),
                first_error=next(iter(failures.values())),
            )
        for row_id, aggregate, error_text in parked:
            log.error(
                "outbox_row_parked",
                id=str(row_id),
                aggregateid=aggregate,
                attempts=self.park_after_attempts,
                error=error_text,
            )
        return len(published)

    async def _append(
        self,
        producer: AIOKafkaProducer,
        rows: list[asyncpg.Record],
        missing: set[str],
        failures: dict[uuid.UUID, str],
        state: _AppendState,
        chunk: _Chunk,
    ) -> list[tuple[asyncpg.Record, asyncio.Future[Any]]]:
        """Append the batch's rows to the producer in order; record rows that fail at once.

        Appending takes microseconds unless the producer waits (for a topic's metadata, for
        buffer space). One time limit covers a run of appends: when it expires, the row being
        appended is the stuck one; it fails, its topic fails its other rows of this batch at
        once (one bad topic costs one limit per batch), and the next run starts afresh.
        """
        sends: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        held_back, stuck_topics = state.held_back, state.stuck_topics
        limit = min(APPEND_TIMEOUT, self.publish_timeout)
        partitions = self._partitions(producer, {row["topic"] for row in rows} - missing)
        pending = iter(rows)
        row: asyncpg.Record | None = None
        while True:
            try:
                async with asyncio.timeout(limit):
                    for row in pending:
                        aggregate = row["aggregateid"]
                        if aggregate in held_back:
                            continue
                        topic = row["topic"]
                        error = stuck_topics.get(topic)
                        if topic in missing:
                            error = (
                                f"UnknownTopicOrPartitionError: topic "
                                f"{self.namespace.topic(topic)!r} does not exist"
                            )
                        if error is None:
                            key = row["key"]
                            known = partitions[topic]
                            # Unknown partitions (metadata in flux): the producer chooses.
                            partition = _partition_for(key, known) if known else None
                            try:
                                future = await producer.send(
                                    self.namespace.topic(topic),
                                    value=row["value"],
                                    key=key,
                                    headers=[
                                        (name, value.encode())
                                        for name, value in json.loads(row["headers"]).items()
                                    ],
                                    partition=partition,
                                )
                            except KafkaError as exc:  # record too large, ...
                                error = _describe(exc, limit)
                            else:
                                # A record of an unknown partition is awaited on its own.
                                tp = (
                                    (topic, partition) if partition is not None else (row["id"], -1)
                                )
                                chunk.last_per_partition[tp] = future
                        if error is not None:
                            failures[row["id"]] = error
                            held_back.add(aggregate)
                            continue
                        sends.append((row, future))
                        if row["attempts"]:
                            held_back.add(aggregate)  # a retried row goes alone
                return sends
            except TimeoutError:
                assert row is not None
                failures[row["id"]] = f"{_NOT_ACCEPTED} within {limit}s"
                stuck_topics[row["topic"]] = failures[row["id"]]
                held_back.add(row["aggregateid"])

    def _partitions(
        self, producer: AIOKafkaProducer, topics: set[str]
    ) -> dict[str, tuple[int, ...]]:
        """Each (logical) topic's partitions, as the producer's metadata knows them."""
        cluster = producer.client.cluster
        return {
            topic: tuple(sorted(cluster.partitions_for_topic(self.namespace.topic(topic)) or ()))
            for topic in topics
        }

    async def _missing_topics(self, producer: AIOKafkaProducer, topics: set[str]) -> set[str]:
        """The batch's (logical) topics the cluster does not have, asking the broker once.

        An unknown topic would make ``send`` wait for its metadata up to the request timeout;
        here it becomes the row's failure at once. If the broker does not answer at all, that
        is :class:`KafkaUnavailableError`.
        """
        client = producer.client
        unknown = {
            t
            for t in topics
            if client.cluster.partitions_for_topic(self.namespace.topic(t)) is None
        }
        if not unknown:
            return set()
        for topic in unknown:
            client.add_topic(self.namespace.topic(topic))
        try:
            async with asyncio.timeout(self.publish_timeout):
                updated = await client.force_metadata_update()
        except TimeoutError:
            updated = False
        if not updated:
            raise KafkaUnavailableError(f"no metadata from Kafka within {self.publish_timeout}s")
        return {
            t
            for t in unknown
            if client.cluster.partitions_for_topic(self.namespace.topic(t)) is None
        }

    async def _broker_answers(self, producer: AIOKafkaProducer) -> bool:
        """Whether the broker answers a metadata request now (it did not acknowledge a send)."""
        try:
            async with asyncio.timeout(min(2.0, self.publish_timeout)):
                await producer.client.fetch_all_metadata()
        except Exception:
            return False
        return True

    async def _settle_inflight(self, conn: asyncpg.Connection) -> None:
        """Wait for the sends of a timed-out batch; delete those Kafka took (not to resend them)."""
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
            await conn.execute(_DELETE_SENT, delivered)
            PUBLISHED.labels(self.service_name).inc(len(delivered))
            log.info("outbox_inflight_settled", delivered=len(delivered))
        self._inflight = []

    # ---- background loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        if self._topics_ready is not None and not self._topics_ready.is_set():
            log.info("outbox_relay_waiting_for_topics", service=self.service_name)
            await wait_for_either(self._topics_ready, self._stopping)
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
        """Metrics, through the service's pool (not the relay's connection)."""
        now = time.monotonic()
        try:
            if now >= self._next_metrics:
                self._next_metrics = now + self.metrics_interval
                await self.refresh_metrics()
        except Exception as exc:
            log.warning("outbox_maintenance_failed", error=f"{type(exc).__name__}: {exc}")

    async def refresh_metrics(self) -> tuple[int, float]:
        """Update the backlog gauges; return (unsent rows, age of the oldest in seconds)."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(_BACKLOG)).one()
        backlog, age, parked = int(row[0]), float(row[1]), int(row[2])
        BACKLOG.labels(self.service_name).set(backlog)
        OLDEST_AGE.labels(self.service_name).set(age)
        PARKED.labels(self.service_name).set(parked)
        return backlog, age

    async def check(self) -> dict[str, Any]:
        """Readiness detail ``outbox``: ``fail`` while rows are parked (an operator must look).

        Registered as a check that does not fail readiness: parked rows hold back their own
        aggregates only, and taking the service out of the load balancer would not help.
        """
        async with self._engine.connect() as connection:
            row = (await connection.execute(_BACKLOG)).one()
        backlog, parked = int(row[0]), int(row[2])
        PARKED.labels(self.service_name).set(parked)
        result: dict[str, Any] = {"backlog": backlog, "parked": parked, "leader": self.is_leader}
        if parked:
            result.update(
                status="fail",
                error=f"{parked} outbox row(s) parked; see python -m kommune.events.admin "
                "outbox parked",
            )
        else:
            result["status"] = "ok"
        return result

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
                    # The server notices a vanished relay (partition, dead host) within about
                    # a minute and ends its session, releasing the relay lock for a replica.
                    **LEADER_KEEPALIVES,
                    **LEADER_COMMIT,
                },
            )
            enable_client_keepalives(self._conn)
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
            for gauge in (BACKLOG, OLDEST_AGE, PARKED):
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
                await close_producer(producer, 1.0, what=f"{self.service_name} outbox producer")
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self, within: float = STOP_TIMEOUT / 3) -> None:
        producer, self._producer = self._producer, None
        for _, future in self._inflight:
            _retrieve_exception_later(future)
        self._inflight = []
        if producer is not None:
            await close_producer(producer, within, what=f"{self.service_name} outbox producer")


async def close_producer(producer: AIOKafkaProducer, within: float, *, what: str) -> None:
    """Stop a producer within about ``within`` seconds, whatever the broker does.

    ``AIOKafkaProducer.stop()`` waits until every pending record is delivered; with the broker
    gone that is for ever. Half the time goes to flushing; then the pending records are failed
    (their rows are still unsent in the outbox, so nothing is lost) and the producer is stopped,
    or aborted (:func:`~kommune.events.shutdown.stop_kafka_client`).
    """
    if not await run_bounded(f"{what} flush", producer.flush, within / 2):
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is not None:
            accumulator.fail_all(KafkaConnectionError("producer closed before delivery"))
    await stop_kafka_client(what, producer, within=within / 2)


def enable_client_keepalives(conn: asyncpg.Connection) -> None:
    """Client-side keepalives on the leader's socket: the relay notices a dead server too.

    (Its queries have ``command_timeout``; this also covers the idle time between batches, when
    the relay only LISTENs.)
    """
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


@functools.lru_cache(maxsize=65_536)
def _partition_for(key: bytes, partitions: tuple[int, ...]) -> int:
    """Kafka's default partition for a key (murmur2, as the Java client and aiokafka choose),
    remembered per aggregate: the pure-Python hash was a tenth of the relay's CPU time."""
    return partitions[(int(murmur2(key)) & 0x7FFFFFFF) % len(partitions)]


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"{_NOT_ACCEPTED} within {timeout}s"
    return f"{type(error).__name__}: {error}"


def _retrieve_exception_later(future: asyncio.Future[Any]) -> None:
    """A send nobody awaits any more: read its outcome so asyncio does not warn about it."""

    def retrieve(done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()

    future.add_done_callback(retrieve)


def _sender_died(producer: AIOKafkaProducer) -> bool:
    """aiokafka fails every pending record when its sender task dies; the producer is dead."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    return task is not None and task.done()
