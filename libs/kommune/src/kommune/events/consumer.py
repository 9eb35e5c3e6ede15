"""Consumer runner: Kafka records → handler, each event's effects applied exactly once.

For every record: decode the CloudEvent; in ONE database transaction claim the inbox row
``(group, ce_id)`` and, if it is new, run the handler; commit; then commit the Kafka offset. A
redelivery (relay duplicate, crash before the offset commit, rebalance) finds its inbox row and
has no second effect.

Failures are sorted by what retrying can change:

* the record is unusable (:class:`~kommune.events.envelope.PoisonMessage`, or the handler raises
  ``PoisonMessage``/``pydantic.ValidationError`` for its data) → dead-letter topic at once;
* the database is unavailable: a named set of errors (:func:`is_transient_infrastructure_error`:
  lost or refused connections, serialization failures and deadlocks, server shutdown, too many
  connections, pool timeouts) → retried with backoff *without limit*: the event is valid,
  dead-lettering it would lose it. Nothing else counts as transient (an ``OSError`` from a
  handler's own HTTP call is a handler failure);
* anything else the handler raises → retried ``max_attempts`` times, then, as the spec's
  ``on_failure`` says, dead-lettered (``"dead_letter"``, the default) or the partition is
  *blocked*: retried with the maximum backoff until it succeeds or an operator steps in
  (``"block"``, for consumers whose events must never be skipped; ``kommune_consumer_blocked``).

Dead-lettering produces the original key, value and headers to the group's own dead-letter topic
``<group>.<topic>.dlq`` (:func:`~kommune.events.topics.dead_letter_topic`; declared with the
service's topics through :meth:`ConsumerSpec.dead_letter_topics`, never auto-created) with the
error in ``kommune_dlq_*`` headers, waits for the broker's ack, and only then lets the offset move
on. A group's dead letters are its own: another group reading the same topic handled the record
fine and must not see it again. ``python -m kommune.events.admin dlq list|redrive`` lists them and
sends them back to their topic (other groups skip them there by their inbox).
Records of a partition are handled one after another, so a retry holds up that partition: this is
what keeps per-aggregate order.

Rebalances: a :class:`~aiokafka.ConsumerRebalanceListener` removes revoked partitions from the
runner's assignment; the record loop checks it before every record, so a partition handed to
another member is not processed here any more (the revocation waits for the record in hand and
its offset commit).

Inbox rows are pruned after ``inbox_retention``, which must be at least twice the retention of
every consumed topic (:func:`check_inbox_retention`); a topic kept for ever keeps its rows for ever.

Names: :class:`ConsumerSpec` holds logical topics and a logical group id. The runner maps them with
its :class:`~kommune.events.topics.TopicNamespace` (``topic_prefix``) where it talks to the broker:
it subscribes to ``prefix + topic`` as the Kafka group ``prefix + group_id`` and dead-letters to
``prefix + <group>.<topic>.dlq``. Handlers, the inbox (``consumer_group``, ``topic``) and the
metrics see the logical names: ``ReceivedEvent.topic`` is the logical topic, so a handler
compares it with the service's topic constants in every environment. The
``kommune_dlq_original_topic`` and ``kommune_dlq_consumer_group`` headers of a dead letter carry
the physical names (where the record really was, which group really read it), for re-driving it
on that broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Literal

import asyncpg  # type: ignore[import-untyped]
import pydantic
import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.db import transaction
from kommune.events.envelope import PoisonMessage, ReceivedEvent, decode
from kommune.events.inbox import claim, prune
from kommune.events.shutdown import ABORT_GRACE_SECONDS, stop_kafka_client, wait_for_either
from kommune.events.topics import (
    DAY_MS,
    TopicNamespace,
    TopicSpec,
    dead_letter_topic,
    dead_letter_topic_spec,
)

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]
"""Applies one event inside the runner's transaction; must not commit."""

DLQ_HEADER_PREFIX = "kommune_dlq_"
STOP_TIMEOUT = 6.0
"""Seconds :meth:`ConsumerRunner.stop` may take (plus a short grace) with the broker gone."""

CONSUMED = Counter(
    "kommune_consumer_events", "Events handled (first delivery).", ["group", "topic"]
)
DUPLICATES = Counter(
    "kommune_consumer_duplicates",
    "Redelivered events skipped thanks to the inbox.",
    ["group", "topic"],
)
SKIPPED = Counter(
    "kommune_consumer_skipped",
    "Events of a type the consumer does not handle.",
    ["group", "topic"],
)
DEAD_LETTERED = Counter(
    "kommune_consumer_dead_lettered",
    "Records sent to the dead-letter topic.",
    ["group", "topic", "reason"],
)
RETRIES = Counter(
    "kommune_consumer_retries", "Handler attempts that failed and were retried.", ["group"]
)
HANDLER_SECONDS = Histogram(
    "kommune_consumer_handler_seconds",
    "Time to claim and handle one event, including the commit.",
    ["group"],
)
BLOCKED = Gauge(
    "kommune_consumer_blocked",
    "1 while a partition of a blocking consumer (on_failure='block') retries a failed record.",
    ["group", "topic", "partition"],
)
LAG = Gauge(
    "kommune_consumer_lag",
    "Records behind the partition's high watermark, after the last fetched batch.",
    ["group", "topic", "partition"],
)


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A service's subscription: its group, topics and handler."""

    group_id: str
    topics: Sequence[str]
    handler: EventHandler
    event_types: frozenset[str] | None = None
    """If set, other types are skipped from the ``ce_type`` header, before any decoding."""
    on_failure: Literal["dead_letter", "block"] = "dead_letter"
    """What a record that keeps failing does: go to the group's dead-letter topic, or block its
    partition until it succeeds (for events that must never be skipped)."""

    def dead_letter_topics(self) -> list[TopicSpec]:
        """The group's dead-letter topics (``<group>.<topic>.dlq``): declare them with the
        service's topics."""
        return [dead_letter_topic_spec(self.group_id, topic) for topic in self.topics]


@dataclass(slots=True)
class ConsumerStats:
    """What a runner has done since it started (for tests and logs)."""

    handled: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    retries: int = 0
    dead_letter_reasons: list[str] = field(default_factory=list)
    blocked: bool = False
    """A blocking consumer's partition is retrying a record that keeps failing."""
    revocations: int = 0
    """Rebalances that took partitions away from this member."""
    left_after_revocation: int = 0
    """Fetched records not handled here because their partition was revoked meanwhile."""

    @property
    def processed(self) -> int:
        """Records whose offset may move on: handled, duplicate, skipped or dead-lettered."""
        return self.handled + self.duplicates + self.skipped + self.dead_lettered


class _InvalidEventError(Exception):
    """The handler found the event's data unusable: dead-letter it without retrying."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _StoppingError(Exception):
    """Raised out of a retry loop when the runner stops; the offset stays where it is."""


TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
    }
)
"""SQLSTATEs that say "the database cannot do it now", besides class 08 (connection exception)."""

TRANSIENT_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)
"""asyncpg's errors for an unavailable database (raised directly by raw asyncpg code)."""


def is_transient_infrastructure_error(error: BaseException) -> bool:
    """True for the named database errors that say "unavailable now", never "this event is bad".

    Only errors of the database layer count: SQLAlchemy's pool timeouts and disconnects, a
    ``DBAPIError`` whose connection was invalidated or whose SQLSTATE is transient (class 08 or
    :data:`TRANSIENT_SQLSTATES`) or whose driver error is one of
    :data:`TRANSIENT_DRIVER_ERRORS` or a socket error (refused, reset, timed out) under the
    driver; and those driver errors raised directly. An ``OSError`` or timeout from anything
    else (a handler's HTTP call) is a handler failure: retried ``max_attempts`` times.
    """
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return _transient_driver_error(error.orig, socket_errors=True)
    return _transient_driver_error(error, socket_errors=False)


def _transient_driver_error(error: BaseException | None, *, socket_errors: bool) -> bool:
    seen = 0
    current = error
    while current is not None and seen < 10:
        if isinstance(current, TRANSIENT_DRIVER_ERRORS):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in TRANSIENT_SQLSTATES
        ):
            return True
        if socket_errors and isinstance(current, OSError | TimeoutError):
            return True  # under the driver: the connection to the database, nothing else
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def check_inbox_retention(
    retention: timedelta, consumers: Sequence[ConsumerSpec], topics: Sequence[TopicSpec]
) -> timedelta | None:
    """The inbox retention to use, refusing one that does not outlive the consumed topics.

    A redelivered record must still find its inbox row, so rows are kept at least twice as long
    as the longest retention of the topics consumed (among the declared ``topics``). ``None``
    (never prune) if one of them keeps records for ever. Raises ``ValueError`` otherwise.
    """
    declared = {spec.name: spec for spec in topics}
    longest_ms = 0
    for consumer in consumers:
        for topic in consumer.topics:
            spec = declared.get(topic)
            if spec is None:
                continue
            if spec.retention_ms is None:
                return None
            longest_ms = max(longest_ms, spec.retention_ms)
    needed = timedelta(milliseconds=2 * longest_ms)
    if retention < needed:
        raise ValueError(
            f"inbox retention {retention.days} days is shorter than twice the longest consumed "
            f"topic retention ({longest_ms / DAY_MS:g} days): redelivered records could be "
            f"applied twice; set INBOX_RETENTION_DAYS to at least {needed.days}"
        )
    return retention


class ConsumerRunner:
    """Runs one :class:`ConsumerSpec` in the background: ``start()``, ``stop()``."""

    def __init__(
        self,
        spec: ConsumerSpec,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        bootstrap_servers: str,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        max_backoff: float = 5.0,
        max_poll_records: int = 200,
        inbox_retention: timedelta | None = timedelta(days=60),
        housekeeping_interval: float = 3600.0,
        topic_prefix: str = "",
        topics_ready: asyncio.Event | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.spec = spec
        self.namespace = TopicNamespace(topic_prefix)
        self.kafka_group_id = self.namespace.group(spec.group_id)
        """The group id on the broker (``topic_prefix + spec.group_id``)."""
        self._sessionmaker = sessionmaker
        self._bootstrap_servers = bootstrap_servers
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.max_poll_records = max_poll_records
        self.inbox_retention = inbox_retention
        self.housekeeping_interval = housekeeping_interval
        self._next_housekeeping = 0.0
        self.stats = ConsumerStats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self._failure: BaseException | None = None
        self._topics_ready = topics_ready
        self._owned: set[TopicPartition] = set()
        """Partitions assigned to this member; the rebalance listener removes revoked ones."""
        self._blocked: set[tuple[str, int]] = set()
        self._partition_busy = asyncio.Lock()
        """Held while a partition's records are processed and committed; a revocation waits."""

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming in the background; returns at once (Kafka may still be unreachable)."""
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.spec.group_id}")

    async def stop(self, within: float = STOP_TIMEOUT) -> None:
        """Stop within about ``within`` seconds whatever the broker does; never raises.

        The record in hand is finished or rolled back (its offset is not committed, the inbox
        makes the redelivery harmless); then the Kafka clients are stopped, or aborted if the
        broker does not answer (:func:`~kommune.events.shutdown.stop_kafka_client`). What could
        not be stopped is logged.
        """
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=within / 2)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
        await self._close_clients(within / 2)
        if task is not None:
            if not task.done():  # it waited for the broker; the aborted clients released it
                await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
            if not task.done():
                log.error("consumer_task_abandoned", group=self.spec.group_id)
            elif not task.cancelled() and task.exception() is not None:
                log.error("consumer_crashed", group=self.spec.group_id, exc_info=task.exception())

    async def __aenter__(self) -> ConsumerRunner:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def run_until(
        self,
        until: int | Callable[[ConsumerStats], bool],
        timeout: float = 30.0,  # noqa: ASYNC109 (a test helper's deadline)
    ) -> ConsumerStats:
        """Start if needed and wait until ``until`` records were processed (or the predicate holds).

        Raises ``TimeoutError`` with the stats so far; keeps running afterwards (call ``stop``).
        """

        def reached(stats: ConsumerStats) -> bool:
            return stats.processed >= until if isinstance(until, int) else until(stats)

        await self.start()
        try:
            async with asyncio.timeout(timeout):
                while not reached(self.stats):
                    if self._task is not None and self._task.done():
                        raise RuntimeError("consumer task ended") from self._failure
                    self._progress.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), 0.5)
        except TimeoutError:
            raise TimeoutError(f"consumer {self.spec.group_id}: {self.stats}") from None
        return self.stats

    # ---- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        if self._topics_ready is not None and not self._topics_ready.is_set():
            log.info("consumer_waiting_for_topics", group=self.spec.group_id)
            await wait_for_either(self._topics_ready, self._stopping)
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._consume()
                failures = 0
            except _StoppingError:
                break
            except Exception as exc:
                self._failure = exc
                failures += 1
                delay = min(self.max_backoff, self.retry_backoff * 2**failures)
                log.warning(
                    "consumer_restart",
                    group=self.spec.group_id,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                )
                await self._close_clients()
                await self._sleep(delay)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=self.kafka_group_id,
            client_id=self.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_poll_records,
        )
        self._consumer = consumer
        self._owned = set()
        consumer.subscribe(
            topics=[self.namespace.topic(topic) for topic in self.spec.topics],
            listener=_RebalanceListener(self),
        )
        await consumer.start()
        log.info(
            "consumer_started",
            group=self.spec.group_id,
            topics=list(self.spec.topics),
            topic_prefix=self.namespace.prefix,
        )
        while not self._stopping.is_set():
            await self._housekeeping()
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                async with self._partition_busy:
                    next_offset = await self._process_partition(consumer, tp, records)
                highwater = consumer.highwater(tp)
                if highwater is not None and next_offset is not None:
                    LAG.labels(
                        self.spec.group_id, self.namespace.logical(tp.topic), str(tp.partition)
                    ).set(max(0, highwater - next_offset))
                if self._stopping.is_set():
                    return

    async def _process_partition(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> int | None:
        """Handle a partition's records in order while it is ours; commit the offset reached."""
        next_offset: int | None = None
        try:
            for record in records:
                if tp not in self._owned:
                    left = records[-1].offset - record.offset + 1
                    self.stats.left_after_revocation += left
                    log.info(
                        "consumer_partition_revoked_midway",
                        group=self.spec.group_id,
                        topic=tp.topic,
                        partition=tp.partition,
                        left=left,
                    )
                    break
                await self._process(record)
                next_offset = record.offset + 1
                self._progress.set()
        finally:
            if next_offset is not None:
                await self._commit(consumer, tp, next_offset)
        return next_offset

    async def _partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """From the rebalance listener: stop handling ``revoked`` after the record in hand."""
        self._owned -= revoked
        if revoked:
            self.stats.revocations += 1
        async with self._partition_busy:  # the record in hand and its commit are done
            pass
        if revoked:
            log.info(
                "consumer_partitions_revoked",
                group=self.spec.group_id,
                partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in revoked),
            )

    def _partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owned |= assigned

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except KafkaError as exc:
            # The inbox makes the redelivery that follows harmless.
            log.warning("consumer_commit_failed", group=self.spec.group_id, error=repr(exc))

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        topic = self.namespace.logical(record.topic)
        if self.spec.event_types is not None:
            ce_type = next((v for k, v in record.headers if k.lower() == "ce_type"), None)
            if (
                ce_type is not None
                and ce_type.decode(errors="replace") not in self.spec.event_types
            ):
                self.stats.skipped += 1
                SKIPPED.labels(self.spec.group_id, topic).inc()
                return
        try:
            event = replace(decode(record), topic=topic)
        except PoisonMessage as exc:
            await self._dead_letter(record, exc, reason="poison")
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                started = time.perf_counter()
                first = await self._apply(event)
                HANDLER_SECONDS.labels(self.spec.group_id).observe(time.perf_counter() - started)
            except _InvalidEventError as exc:
                await self._dead_letter(record, exc.cause, reason="invalid")
                return
            except Exception as exc:
                transient = is_transient_infrastructure_error(exc)
                if not transient and attempt >= self.max_attempts:
                    if self.spec.on_failure == "dead_letter":
                        await self._dead_letter(record, exc, reason="handler_failed")
                        return
                    self._block(record, exc)  # and keep retrying, at the slowest pace
                    attempt -= 1
                if transient:
                    attempt -= 1  # the event is fine; the database is not: wait, never give up
                self.stats.retries += 1
                RETRIES.labels(self.spec.group_id).inc()
                delay = min(self.max_backoff, self.retry_backoff * 2 ** max(attempt, 1))
                log.warning(
                    "consumer_handler_retry",
                    group=self.spec.group_id,
                    event_id=event.id,
                    event_type=event.type,
                    attempt=attempt,
                    transient=transient,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                )
                await self._sleep(delay)
                if self._stopping.is_set():
                    raise _StoppingError from exc  # leave the offset where it is
                continue
            self._unblock(record)
            if first:
                self.stats.handled += 1
                CONSUMED.labels(self.spec.group_id, topic).inc()
            else:
                self.stats.duplicates += 1
                DUPLICATES.labels(self.spec.group_id, topic).inc()
                log.info("consumer_duplicate_skipped", group=self.spec.group_id, event_id=event.id)
            return

    def _block(self, record: ConsumerRecord[bytes, bytes], error: BaseException) -> None:
        topic = self.namespace.logical(record.topic)
        if (topic, record.partition) not in self._blocked:
            self._blocked.add((topic, record.partition))
            BLOCKED.labels(self.spec.group_id, topic, str(record.partition)).set(1)
            log.error(
                "consumer_partition_blocked",
                group=self.spec.group_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=f"{type(error).__name__}: {error}",
            )
        self.stats.blocked = True

    def _unblock(self, record: ConsumerRecord[bytes, bytes]) -> None:
        topic = self.namespace.logical(record.topic)
        if (topic, record.partition) in self._blocked:
            self._blocked.discard((topic, record.partition))
            BLOCKED.labels(self.spec.group_id, topic, str(record.partition)).set(0)
            log.info("consumer_partition_unblocked", group=self.spec.group_id, topic=topic)
        self.stats.blocked = bool(self._blocked)

    async def _apply(self, event: ReceivedEvent) -> bool:
        async with transaction(self._sessionmaker) as session:
            first = await claim(
                session,
                self.spec.group_id,
                event.id,
                event_type=event.type,
                topic=event.topic,
                partition=event.partition,
                offset=event.offset,
            )
            if first:
                try:
                    await self.spec.handler(session, event)
                except (PoisonMessage, pydantic.ValidationError) as exc:
                    raise _InvalidEventError(exc) from exc
        return first

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if self.inbox_retention is None or now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self.housekeeping_interval
        try:
            async with transaction(self._sessionmaker) as session:
                pruned = await prune(session, self.spec.group_id, self.inbox_retention)
            if pruned:
                log.info("consumer_inbox_pruned", group=self.spec.group_id, rows=pruned)
        except Exception as exc:
            log.warning("consumer_inbox_prune_failed", error=f"{type(exc).__name__}: {exc}")

    # ---- dead letters --------------------------------------------------------------------------

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, reason: str
    ) -> None:
        """Produce the record to the group's ``<group>.<topic>.dlq``, wait for the ack; retry
        until it is there."""
        headers = [(k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]
        headers += [
            (f"{DLQ_HEADER_PREFIX}error", str(error)[:2000].encode()),
            (f"{DLQ_HEADER_PREFIX}error_type", type(error).__name__.encode()),
            (f"{DLQ_HEADER_PREFIX}reason", reason.encode()),
            (f"{DLQ_HEADER_PREFIX}original_topic", record.topic.encode()),
            (f"{DLQ_HEADER_PREFIX}original_partition", str(record.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}original_offset", str(record.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}consumer_group", self.kafka_group_id.encode()),
        ]
        target = self.namespace.topic(
            dead_letter_topic(self.spec.group_id, self.namespace.logical(record.topic))
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                producer = await self._ensure_dlq_producer()
                async with asyncio.timeout(30):
                    await producer.send_and_wait(
                        target, value=record.value, key=record.key, headers=headers
                    )
                break
            except (KafkaError, TimeoutError) as exc:
                delay = min(self.max_backoff, self.retry_backoff * 2**attempt)
                log.error(
                    "consumer_dead_letter_failed",
                    group=self.spec.group_id,
                    topic=target,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                )
                await self._close_dlq_producer()
                await self._sleep(delay)
                if self._stopping.is_set():
                    raise _StoppingError from exc
        self.stats.dead_lettered += 1
        self.stats.dead_letter_reasons.append(f"{reason}: {type(error).__name__}: {error}")
        DEAD_LETTERED.labels(self.spec.group_id, self.namespace.logical(record.topic), reason).inc()
        log.warning(
            "consumer_dead_lettered",
            group=self.spec.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            error=f"{type(error).__name__}: {error}",
        )

    async def _ensure_dlq_producer(self) -> AIOKafkaProducer:
        if self._dlq_producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap_servers,
                client_id=f"{self.kafka_group_id}-dlq",
                enable_idempotence=True,
                acks="all",
            )
            try:
                async with asyncio.timeout(30):
                    await producer.start()
            except BaseException:
                await stop_kafka_client(f"{self.spec.group_id} dead-letter producer", producer)
                raise
            self._dlq_producer = producer
        return self._dlq_producer

    # ---- helpers -------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _close_dlq_producer(self, within: float = STOP_TIMEOUT / 2) -> None:
        producer, self._dlq_producer = self._dlq_producer, None
        if producer is not None:
            await stop_kafka_client(
                f"{self.spec.group_id} dead-letter producer", producer, within=within
            )

    async def _close_clients(self, within: float = STOP_TIMEOUT / 2) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await stop_kafka_client(f"{self.spec.group_id} consumer", consumer, within=within)
        await self._close_dlq_producer(within)


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._runner._partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._runner._partitions_assigned(set(assigned))
