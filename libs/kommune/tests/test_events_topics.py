"""Topic declarations become real topics, once, even when several replicas start together."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kommune.events.topics import DAY_MS, TopicSpec, ensure_topics
from kommune.testing.infra import delete_topics, unique_topic


async def _describe(bootstrap: str, names: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        partitions = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.resources:
                name, entries = resource[3], resource[4]
                configs[name] = {entry[0]: entry[1] for entry in entries}
        return {name: (partitions[name], configs[name]) for name in names if name in partitions}
    finally:
        await admin.close()


async def test_missing_topics_are_created_as_declared(kafka_bootstrap_servers: str) -> None:
    events = TopicSpec(unique_topic("topics.events"), partitions=4)
    state = TopicSpec(
        unique_topic("topics.state"),
        partitions=2,
        retention_ms=None,
        cleanup_policy="compact",
    )
    names = [events.name, state.name]
    try:
        await ensure_topics(kafka_bootstrap_servers, [events, state])
        # Exactly what was declared: no per-topic dead-letter topic (dead letters belong to a
        # consumer group, which declares its own: ConsumerSpec.dead_letter_topics).
        described = await _describe(kafka_bootstrap_servers, [*names, events.name + ".dlq"])

        assert set(described) == set(names)
        assert described[events.name][0] == 4
        assert described[events.name][1]["retention.ms"] == str(7 * DAY_MS)
        assert described[events.name][1]["cleanup.policy"] == "delete"
        assert described[state.name][0] == 2
        assert described[state.name][1]["cleanup.policy"] == "compact"
        assert described[state.name][1]["retention.ms"] == "-1"
    finally:
        await delete_topics(kafka_bootstrap_servers, names)


async def test_idempotent_and_safe_when_replicas_race(kafka_bootstrap_servers: str) -> None:
    specs = [TopicSpec(unique_topic(f"topics.race{i}"), partitions=3) for i in range(3)]
    names = [s.name for s in specs]
    try:
        # Five "replicas" start at once, then one restarts: nobody fails, nothing changes.
        await asyncio.gather(*(ensure_topics(kafka_bootstrap_servers, specs) for _ in range(5)))
        await ensure_topics(kafka_bootstrap_servers, specs)
        described = await _describe(kafka_bootstrap_servers, names)
        assert {name: d[0] for name, d in described.items()} == dict.fromkeys(names, 3)
    finally:
        await delete_topics(kafka_bootstrap_servers, names)


async def test_nothing_declared_is_a_no_op() -> None:
    # No broker is contacted at all for an empty declaration.
    await ensure_topics("127.0.0.1:1", [])
