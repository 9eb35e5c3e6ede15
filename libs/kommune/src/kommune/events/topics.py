"""Topic declarations: each service declares its topics; missing ones are created at start.

Auto topic creation is off on every broker we run, so a topic exists only because a service (or,
on Kubernetes, a Strimzi ``KafkaTopic`` made from the same declaration) created it. Creation is
idempotent and safe when several replicas start at once: "already exists" counts as success.

**Namespaces.** Code, outbox rows, consumer specs, AsyncAPI and the Kubernetes ``KafkaTopic``
resources all use LOGICAL names (``ideas.idea.v1``). An environment may set a topic prefix
(``KOMMUNE_KAFKA_TOPIC_PREFIX``, empty in production and ``make up``); the PHYSICAL name on the
broker is then ``prefix + logical`` (``t1a2b3c4d.ideas.idea.v1``; a consumer group's dead
letters ``t1a2b3c4d.ideas.chronicle.ideas.idea.v1.dlq``). :class:`TopicNamespace` is the one
mapping; it is applied only at the edges that talk to the broker: :func:`ensure_topics`, the
relay's send, the consumer's subscription, group id and dead-letter produce. Test sessions use a
prefix of their own, so they neither see each other's events nor a developer's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from kommune.events.shutdown import stop_kafka_client

log = structlog.get_logger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"
DLQ_RETENTION_MS = 30 * DAY_MS
MAX_REPLICATION_FACTOR = 3
ENSURE_TIMEOUT_S = 30.0
METADATA_POLL_S = 0.05
"""How often a freshly created topic is looked for in the metadata."""
TOPIC_PREFIX_MAX_LENGTH = 40
_TOPIC_PREFIX = re.compile(r"[a-zA-Z0-9._-]*[.-]")


def validate_topic_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable namespace, else raise ``ValueError`` saying why.

    Empty (no namespace), or up to 40 of Kafka's topic characters ``[a-zA-Z0-9._-]`` ending in
    ``.`` or ``-`` so that the logical name stays readable after it (``t1a2b3c4d.ideas.idea.v1``).
    """
    if prefix == "":
        return prefix
    if len(prefix) > TOPIC_PREFIX_MAX_LENGTH:
        raise ValueError(
            f"Kafka topic prefix {prefix!r} is {len(prefix)} characters long; "
            f"at most {TOPIC_PREFIX_MAX_LENGTH} are allowed"
        )
    if not _TOPIC_PREFIX.fullmatch(prefix):
        raise ValueError(
            f"Kafka topic prefix {prefix!r} is invalid: use only [a-zA-Z0-9._-] and end it "
            "with '.' or '-' (e.g. 't1a2b3c4d.' or 'staging-'), or leave it empty"
        )
    return prefix


@dataclass(frozen=True, slots=True)
class TopicNamespace:
    """Maps logical topic names and consumer group ids to the physical ones on the broker.

    ``TopicNamespace("")`` (the default) is the identity: production and ``make up``.
    """

    prefix: str = ""

    def __post_init__(self) -> None:
        validate_topic_prefix(self.prefix)

    def topic(self, logical: str) -> str:
        """The physical topic name (``prefix + logical``)."""
        return self.prefix + logical

    def group(self, logical: str) -> str:
        """The physical consumer group id: the prefix applies to groups too, so the groups of
        two environments on one broker never mix (and a fresh test group never reads dev
        offsets)."""
        return self.prefix + logical

    def logical(self, physical: str) -> str:
        """The logical name of a physical topic of this namespace (others are returned as is)."""
        if self.prefix and physical.startswith(self.prefix):
            return physical[len(self.prefix) :]
        return physical


def physical_topic(prefix: str, logical: str) -> str:
    """``prefix + logical``, the prefix validated: the function form of :class:`TopicNamespace`."""
    return TopicNamespace(prefix).topic(logical)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic; ``retention_ms=None`` keeps records for ever (``compact``: the last per key)."""

    name: str
    partitions: int = 3
    retention_ms: int | None = 7 * DAY_MS
    cleanup_policy: Literal["delete", "compact"] = "delete"

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms if self.retention_ms is not None else -1),
        }


def dead_letter_topic(group_id: str, topic: str) -> str:
    """A consumer group's own dead-letter topic for ``topic``: ``<group>.<topic>.dlq``.

    Per group, not per topic: another group reading the same topic handled the record and must
    not get it back when an operator re-drives this group's dead letters.
    """
    return f"{group_id}.{topic}{DLQ_SUFFIX}"


def dead_letter_topic_spec(group_id: str, topic: str) -> TopicSpec:
    """The declaration of :func:`dead_letter_topic` (one partition, 30 days)."""
    return TopicSpec(
        name=dead_letter_topic(group_id, topic),
        partitions=1,
        retention_ms=DLQ_RETENTION_MS,
        cleanup_policy="delete",
    )


async def ensure_topics(
    bootstrap_servers: str, specs: Sequence[TopicSpec], *, prefix: str = ""
) -> None:
    """Create the missing topics; existing ones are left as they are.

    ``specs`` carry logical names; the topics created are ``prefix + name`` (see
    :class:`TopicNamespace`). The replication factor is the broker count, capped at 3 (one on a
    dev broker).
    """
    namespace = TopicNamespace(prefix)
    distinct = {spec.name: spec for spec in specs}.values()
    wanted = [replace(spec, name=namespace.topic(spec.name)) for spec in distinct]
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    try:
        async with asyncio.timeout(ENSURE_TIMEOUT_S):
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [spec for spec in wanted if spec.name not in existing]
            if not missing:
                return
            cluster = await admin.describe_cluster()
            replication = max(1, min(MAX_REPLICATION_FACTOR, len(cluster.get("brokers", []))))
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=replication,
                        topic_configs=spec.configs(),
                    )
                    for spec in missing
                ]
            )
            failures: list[str] = []
            for topic_error in response.topic_errors:
                name, code = topic_error[0], topic_error[1]
                message = topic_error[2] if len(topic_error) > 2 else None
                if code == 0:
                    log.info("topic_created", topic=name, replication_factor=replication)
                elif code == TopicAlreadyExistsError.errno:
                    log.debug("topic_exists", topic=name)  # another replica was faster
                else:
                    failures.append(f"{name}: {for_code(code).__name__} {message or ''}".strip())
            if failures:
                raise RuntimeError("could not create Kafka topics: " + "; ".join(failures))
            # The controller has accepted them; the brokers' metadata follows a moment later.
            # Until it has, a client that looks them up (a producer, an admin tool) finds
            # nothing, so "created" here means "visible".
            names = {spec.name for spec in missing}
            visible = set(await admin.list_topics())
            while not names <= visible:  # polling the broker: there is nothing to wait on
                await asyncio.sleep(METADATA_POLL_S)
                visible = set(await admin.list_topics())
    finally:
        await stop_kafka_client("topic admin client", admin, within=2.0, stop="close")


class TopicProvisioner:
    """Ensures a service's topics in the background, retrying until the broker lets it.

    A service starts (and serves HTTP) with the broker down; the relay and the consumers wait on
    :attr:`ready` before they touch a topic, so no event is sent to (or read from) a topic that
    does not exist yet. :meth:`check` is the readiness check ``topics``: it names what is still
    missing and the last error.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        specs: Sequence[TopicSpec],
        *,
        prefix: str = "",
        retry_backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._specs = list(specs)
        self._prefix = prefix
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.ready = asyncio.Event()
        self.attempts = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        if not self._specs:
            self.ready.set()

    @property
    def topics(self) -> list[str]:
        """The logical names this provisioner ensures."""
        return list(dict.fromkeys(spec.name for spec in self._specs))

    async def start(self) -> None:
        if self._task is None and not self.ready.is_set():
            self._task = asyncio.create_task(self._run(), name="ensure-topics")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=3.0)
            if not task.done():
                log.error("ensure_topics_task_abandoned")

    async def _run(self) -> None:
        while True:
            self.attempts += 1
            try:
                await ensure_topics(self._bootstrap_servers, self._specs, prefix=self._prefix)
            except Exception as exc:
                self.last_error = (
                    f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
                )
                delay = min(self.max_backoff, self.retry_backoff * 2 ** min(self.attempts, 10))
                log.warning(
                    "ensure_topics_retry",
                    attempt=self.attempts,
                    error=self.last_error,
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            self.last_error = None
            self.ready.set()
            log.info("topics_ready", topics=len(self.topics), attempts=self.attempts)
            return

    async def check(self) -> dict[str, object]:
        """Readiness: ``ok`` once every declared topic exists, else what is missing and why."""
        if self.ready.is_set():
            return {"status": "ok", "topics": len(self.topics)}
        result: dict[str, object] = {"status": "fail", "missing": self.topics}
        result["error"] = self.last_error or "not yet ensured"
        return result
