"""Topic namespaces: one prefix per environment on a shared broker, logical names in the code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.consumer import ConsumerRunner, ConsumerSpec
from kommune.events.envelope import ReceivedEvent, encode_headers
from kommune.events.relay import OutboxRelay
from kommune.events.topics import (
    TopicNamespace,
    TopicSpec,
    dead_letter_topic,
    ensure_topics,
    physical_topic,
    validate_topic_prefix,
)
from kommune.settings import ServiceSettings
from kommune.testing.infra import (
    KafkaProbe,
    delete_prefixed_topics,
    delete_topics,
    kafka_events,
    unique_group,
    unique_topic,
    unique_topic_prefix,
)

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent

TYPE = "de.kommune.test.thing.changed.v1"


# ---- the mapping -----------------------------------------------------------------------------


def test_the_namespace_maps_topics_and_groups() -> None:
    namespace = TopicNamespace("t1a2b3c4d.")
    assert namespace.topic("ideas.idea.v1") == "t1a2b3c4d.ideas.idea.v1"
    assert namespace.group("ideas.chronicle") == "t1a2b3c4d.ideas.chronicle"
    assert namespace.logical("t1a2b3c4d.ideas.idea.v1") == "ideas.idea.v1"
    assert namespace.logical("ideas.idea.v1") == "ideas.idea.v1"  # not of this namespace
    assert physical_topic("staging-", "egov.service.v1") == "staging-egov.service.v1"


def test_the_empty_prefix_is_the_identity() -> None:
    namespace = TopicNamespace()
    assert namespace.topic("ideas.idea.v1") == "ideas.idea.v1"
    assert namespace.group("ideas.chronicle") == "ideas.chronicle"
    assert namespace.logical("ideas.idea.v1") == "ideas.idea.v1"


@pytest.mark.parametrize("prefix", ["", "t1a2b3c4d.", "staging-", "a.", "A_b-C.d-", "x" * 39 + "."])
def test_valid_prefixes(prefix: str) -> None:
    assert validate_topic_prefix(prefix) == prefix
    assert (
        ServiceSettings.model_validate({"KOMMUNE_KAFKA_TOPIC_PREFIX": prefix}).kafka_topic_prefix
        == prefix
    )


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("staging", "end it with '.' or '-'"),
        ("t1a2_", "end it with '.' or '-'"),
        ("dev/test.", "[a-zA-Z0-9._-]"),
        ("ümlaut.", "[a-zA-Z0-9._-]"),
        ("with space.", "[a-zA-Z0-9._-]"),
        ("x" * 40 + ".", "at most 40"),
    ],
)
def test_an_invalid_prefix_is_rejected_with_a_clear_error(prefix: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings.model_validate({"KOMMUNE_KAFKA_TOPIC_PREFIX": prefix})
    [error] = caught.value.errors()
    assert error["loc"] == ("KOMMUNE_KAFKA_TOPIC_PREFIX",)
    assert message in error["msg"]
    assert repr(prefix) in error["msg"]
    with pytest.raises(ValueError, match="Kafka topic prefix"):
        TopicNamespace(prefix)


def test_the_prefix_is_read_from_the_platform_wide_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class EgovSettings(ServiceSettings):
        model_config = {**ServiceSettings.model_config, "env_prefix": "EGOV_"}

    monkeypatch.setenv("KOMMUNE_KAFKA_TOPIC_PREFIX", "t0ff1ce0.")
    assert EgovSettings().kafka_topic_prefix == "t0ff1ce0."
    assert ServiceSettings().kafka_topic_prefix == "t0ff1ce0."
    monkeypatch.setenv("KOMMUNE_KAFKA_TOPIC_PREFIX", "no good")
    with pytest.raises(ValidationError, match="Kafka topic prefix 'no good' is invalid"):
        EgovSettings()
    monkeypatch.delenv("KOMMUNE_KAFKA_TOPIC_PREFIX")
    assert EgovSettings().kafka_topic_prefix == ""


# ---- on the broker -----------------------------------------------------------------------------


NewPrefix = Callable[[], str]


@pytest_asyncio.fixture(loop_scope="session")
async def new_prefix(kafka_bootstrap_servers: str) -> AsyncIterator[NewPrefix]:
    """Factory of fresh namespaces; their topics are deleted after the test."""
    prefixes: list[str] = []

    def factory() -> str:
        prefixes.append(unique_topic_prefix())
        return prefixes[-1]

    yield factory
    for prefix in prefixes:
        await delete_prefixed_topics(kafka_bootstrap_servers, prefix)


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _headers(event_id: str) -> list[tuple[str, bytes]]:
    return encode_headers(
        {
            "ce_specversion": "1.0",
            "ce_id": event_id,
            "ce_source": "/test",
            "ce_type": TYPE,
            "content-type": "application/json",
        }
    )


async def _produce(bootstrap: str, topic: str, *records: tuple[str, bytes]) -> None:
    """(event id, value) records to one physical topic, all with key ``k``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for event_id, value in records:
            await producer.send_and_wait(topic, value, key=b"k", headers=_headers(event_id))
    finally:
        await producer.stop()


def _runner(db: EventsDb, bootstrap: str, spec: ConsumerSpec, prefix: str) -> ConsumerRunner:
    return ConsumerRunner(
        spec,
        sessionmaker=db.sessionmaker,
        bootstrap_servers=bootstrap,
        retry_backoff=0.01,
        topic_prefix=prefix,
    )


async def test_topics_are_created_under_the_prefix_only(
    kafka_bootstrap_servers: str, new_prefix: NewPrefix
) -> None:
    prefix = new_prefix()
    logical = unique_topic("ns.create")
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(logical, partitions=2)], prefix=prefix)
    existing = await _topics(kafka_bootstrap_servers)
    assert prefix + logical in existing
    assert logical not in existing


async def test_the_relay_publishes_to_the_prefixed_topic(
    events_db: EventsDb,
    kafka_bootstrap_servers: str,
    make_event: MakeEvent,
    new_prefix: NewPrefix,
) -> None:
    prefix = new_prefix()
    logical = unique_topic("ns.relay")
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(logical, partitions=1)], prefix=prefix)
    aggregate = str(uuid.uuid4())
    await events_db.add_events(make_event(logical, aggregate, {"n": 1}))
    # The outbox keeps the logical name.
    assert await events_db.scalar("SELECT topic FROM outbox") == logical

    relay = OutboxRelay(
        engine=events_db.engine,
        dsn=events_db.dsn,
        bootstrap_servers=kafka_bootstrap_servers,
        service_name=f"ns-{uuid.uuid4().hex[:8]}",
        topic_prefix=prefix,
    )
    try:
        assert await relay.relay_once() == 1
    finally:
        await relay.stop()

    [event] = await kafka_events(kafka_bootstrap_servers, prefix + logical, count=None)
    assert event.key == aggregate
    assert event.data == {"n": 1}
    assert event.topic == prefix + logical  # decode alone: what Kafka said
    assert logical not in await _topics(kafka_bootstrap_servers)


async def test_the_consumer_reads_only_its_namespace_and_dead_letters_there(
    events_db: EventsDb, kafka_bootstrap_servers: str, new_prefix: NewPrefix
) -> None:
    prefix = new_prefix()
    logical = unique_topic("ns.consume")
    group = unique_group("ns")
    # The same logical topic exists unprefixed (another environment) and in the namespace.
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(logical, partitions=1)])
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(logical, partitions=1)], prefix=prefix)
    try:
        await _produce(kafka_bootstrap_servers, logical, ("foreign", b'{"n": 0}'))
        await _produce(
            kafka_bootstrap_servers,
            prefix + logical,
            ("poison", b"not json"),
            ("mine", b'{"n": 1}'),
        )
        seen: list[tuple[str, str]] = []

        async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
            seen.append((event.id, event.topic))

        spec = ConsumerSpec(group_id=group, topics=[logical], handler=handler)
        # The group's own dead-letter topic, declared in the namespace as a service does.
        await ensure_topics(kafka_bootstrap_servers, spec.dead_letter_topics(), prefix=prefix)
        group_dlq = dead_letter_topic(group, logical)
        async with KafkaProbe(
            kafka_bootstrap_servers, prefix + group_dlq, from_beginning=True
        ) as dlq:
            runner = _runner(events_db, kafka_bootstrap_servers, spec, prefix)
            async with runner:
                stats = await runner.run_until(2)
            [dead] = await dlq.records()

        # Only the namespace's events; the handler sees the logical topic.
        assert seen == [("mine", logical)]
        assert (stats.handled, stats.dead_lettered) == (1, 1)
        # The inbox keeps the logical group and topic.
        assert (
            await events_db.scalar(
                "SELECT topic FROM inbox WHERE consumer_group = :g AND event_id = 'mine'", g=group
            )
            == logical
        )
        # The dead letter went to prefix + <group>.<topic>.dlq, with the physical names in its
        # headers.
        headers = {k: v.decode() for k, v in dead.headers}
        assert dead.value == b"not json"
        assert headers["ce_id"] == "poison"
        assert headers["kommune_dlq_original_topic"] == prefix + logical
        assert headers["kommune_dlq_consumer_group"] == prefix + group
        assert group_dlq not in await _topics(kafka_bootstrap_servers)  # only the physical one

        # The group on the broker is namespaced too: the unprefixed group id has no offsets.
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
        await admin.start()
        try:
            groups = {g[0] for g in await admin.list_consumer_groups()}
            committed = await admin.list_consumer_group_offsets(prefix + group)
        finally:
            await admin.close()
        assert runner.kafka_group_id == prefix + group
        assert prefix + group in groups
        assert group not in groups
        assert {tp.topic: meta.offset for tp, meta in committed.items()} == {prefix + logical: 2}
    finally:
        await delete_topics(
            kafka_bootstrap_servers,
            [logical, prefix + dead_letter_topic(group, logical)],
        )


async def test_two_namespaces_do_not_see_each_others_events(
    events_db: EventsDb, kafka_bootstrap_servers: str, new_prefix: NewPrefix
) -> None:
    """Two environments, same logical topic and group id: each consumes only its own events."""
    logical = unique_topic("ns.pair")
    group = unique_group("ns-pair")
    prefixes = [new_prefix(), new_prefix()]
    for prefix in prefixes:
        await ensure_topics(
            kafka_bootstrap_servers, [TopicSpec(logical, partitions=1)], prefix=prefix
        )
    for index, prefix in enumerate(prefixes):
        await _produce(
            kafka_bootstrap_servers,
            physical_topic(prefix, logical),
            (f"{index}-first", b"{}"),
            (f"{index}-second", b"{}"),
        )

    for index, prefix in enumerate(prefixes):
        seen: list[str] = []

        async def handler(
            session: AsyncSession, event: ReceivedEvent, seen: list[str] = seen
        ) -> None:
            seen.append(event.id)

        spec = ConsumerSpec(group_id=group, topics=[logical], handler=handler)
        async with _runner(events_db, kafka_bootstrap_servers, spec, prefix) as runner:
            stats = await runner.run_until(2)
        assert seen == [f"{index}-first", f"{index}-second"]
        assert (stats.handled, stats.duplicates, stats.skipped) == (2, 0, 0)
