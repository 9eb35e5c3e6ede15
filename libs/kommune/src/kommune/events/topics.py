"""Topic declarations: each service declares its topics; missing ones are created at start.

Auto topic creation is off on every broker we run, so a topic exists only because a service (or,
on Kubernetes, a Strimzi ``KafkaTopic`` made from the same declaration) created it. Creation is
idempotent and safe when several replicas start at once: "already exists" counts as success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

log = structlog.get_logger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"
DLQ_RETENTION_MS = 30 * DAY_MS
MAX_REPLICATION_FACTOR = 3
ENSURE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic; ``retention_ms=None`` keeps records for ever (``compact``: the last per key)."""

    name: str
    partitions: int = 3
    retention_ms: int | None = 7 * DAY_MS
    cleanup_policy: Literal["delete", "compact"] = "delete"
    with_dlq: bool = True

    @property
    def dlq(self) -> TopicSpec:
        return TopicSpec(
            name=dlq_topic(self.name),
            partitions=1,
            retention_ms=DLQ_RETENTION_MS,
            cleanup_policy="delete",
            with_dlq=False,
        )

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms if self.retention_ms is not None else -1),
        }


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def expand(specs: Sequence[TopicSpec]) -> list[TopicSpec]:
    """The declared topics plus their dead-letter topics, without duplicates."""
    result: dict[str, TopicSpec] = {}
    for spec in specs:
        result.setdefault(spec.name, spec)
        if spec.with_dlq:
            result.setdefault(spec.dlq.name, spec.dlq)
    return list(result.values())


async def ensure_topics(bootstrap_servers: str, specs: Sequence[TopicSpec]) -> None:
    """Create the missing topics (and their ``<name>.dlq``); existing ones are left as they are.

    The replication factor is the broker count, capped at 3 (one on a dev broker).
    """
    wanted = expand(specs)
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    async with asyncio.timeout(ENSURE_TIMEOUT_S):
        await admin.start()
        try:
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
        finally:
            await admin.close()
