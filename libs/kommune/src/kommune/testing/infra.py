"""Pytest fixtures for the real servers every test talks to: PostgreSQL and Kafka.

Where the servers come from, first match wins (each server on its own):

1. ``KOMMUNE_TEST_DATABASE_URL`` / ``KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS``;
2. a reachable Docker engine (``docker info`` succeeds): testcontainers, one per test session;
3. the project-local runtime: ``deploy/local/postgres.sh start`` / ``deploy/local/kafka.sh start``
   (idempotent; servers already running are reused and left running).

Many test sessions share these servers at once, so every test works in its own database
(:func:`create_database`) and on its own topics (:func:`kafka_topic`, :func:`unique_topic`) and
consumer groups. Typical service test::

    async def test_submit_publishes(create_database, kafka_bootstrap_servers, kafka_topic):
        url = await create_database("egov")
        topic = await kafka_topic("egov.request.v1")
        async with KafkaProbe(kafka_bootstrap_servers, topic) as probe:   # offsets taken now
            ...  # act: call the API, run the relay
            [event] = await probe.events(lambda e: e.type.endswith(".submitted.v1"))
        assert event.key == str(request_id) and event.headers["ce_source"] == "/egov"

A service running in a test gets the session's topic namespace instead of unique topic names:
``kafka_topic_prefix`` (e.g. ``t1a2b3c4d.``) goes into its settings
(``KOMMUNE_KAFKA_TOPIC_PREFIX``); the service keeps its logical names and works on
``t1a2b3c4d.ideas.idea.v1``; probes read the physical name,
``physical_topic(kafka_topic_prefix, IDEA_TOPIC)``. The session's topics are deleted when it ends.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from kommune.events.envelope import ReceivedEvent, decode, encode
from kommune.events.outbox import DomainEvent
from kommune.events.topics import TopicSpec, ensure_topics, validate_topic_prefix
from kommune.telemetry.logging import never_cache_loggers

log = structlog.get_logger(__name__)

DATABASE_ENV = "KOMMUNE_TEST_DATABASE_URL"
KAFKA_ENV = "KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS"
LOCAL_DATABASE_URL = "postgresql://kommune:kommune@127.0.0.1:15432/postgres"
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
Provider = Literal["env", "docker", "local"]


def pytest_configure(config: pytest.Config) -> None:
    """Tests capture log events: no logger may be cached before a capture (see the function)."""
    never_cache_loggers()


# ---- where the servers come from -------------------------------------------------------------


def repo_root() -> Path:
    """The checkout holding ``deploy/local`` (searched upwards from here and from the cwd)."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local" / "postgres.sh").is_file():
                return candidate
    raise RuntimeError("deploy/local/postgres.sh not found above this file or the cwd")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info"],  # noqa: S607 (resolved from PATH on purpose)
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def run_local_script(name: str, command: str, *, timeout: float = 900) -> None:
    """``bash deploy/local/<name>.sh <command>`` from the repository root; fail loudly."""
    root = repo_root()
    result = subprocess.run(  # noqa: S603 (fixed script of this repository)
        ["bash", str(root / "deploy" / "local" / f"{name}.sh"), command],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"deploy/local/{name}.sh {command} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


@functools.cache
def local_endpoints() -> tuple[str, str]:
    """(database URL, Kafka bootstrap) of the project-local runtime, as deploy/local/lib.sh says.

    Asking the scripts keeps one source of truth for the ports (and honours their overrides,
    e.g. ``KOMMUNE_PG_PORT`` for a second checkout).
    """
    try:
        root = repo_root()
    except RuntimeError:
        return LOCAL_DATABASE_URL, LOCAL_KAFKA_BOOTSTRAP
    script = (
        "source deploy/local/lib.sh >/dev/null && "
        'printf "%s\\n%s\\n" "$KOMMUNE_LOCAL_DATABASE_URL" "$KOMMUNE_LOCAL_KAFKA_BOOTSTRAP"'
    )
    result = subprocess.run(  # noqa: S603 (a fixed script)
        ["bash", "-c", script],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return LOCAL_DATABASE_URL, LOCAL_KAFKA_BOOTSTRAP
    return lines[0], lines[1]


def _asyncpg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Server:
    """Where a server came from; ``local`` ones can be stopped and started by fault tests."""

    address: str
    provider: Provider


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[Server]:
    if url := os.environ.get(DATABASE_ENV):
        yield Server(_asyncpg_url(url), "env")
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15", driver=None)
        container.start()
        try:
            yield Server(_asyncpg_url(container.get_connection_url()), "docker")
        finally:
            container.stop()
    else:
        run_local_script("postgres", "start")
        yield Server(local_endpoints()[0], "local")


@pytest.fixture(scope="session")
def _kafka_server() -> Iterator[Server]:
    if bootstrap := os.environ.get(KAFKA_ENV):
        local = bootstrap == local_endpoints()[1]
        yield Server(bootstrap, "local" if local else "env")
    elif docker_available():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        container.start()
        try:
            yield Server(container.get_bootstrap_server(), "docker")
        finally:
            container.stop()
    else:
        run_local_script("kafka", "start")
        yield Server(local_endpoints()[1], "local")


@pytest.fixture(scope="session")
def postgres_admin_url(_postgres_server: Server) -> str:
    """Superuser URL in asyncpg form (``postgresql://...``) of the test PostgreSQL server."""
    return _postgres_server.address


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(_kafka_server: Server) -> str:
    return _kafka_server.address


class LocalKafka:
    """Stops and starts the project-local broker, for fault tests. Affects every test session."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    async def stop(self) -> None:
        await asyncio.to_thread(run_local_script, "kafka", "stop", timeout=120)

    async def start(self) -> None:
        await asyncio.to_thread(run_local_script, "kafka", "start", timeout=300)


@pytest.fixture(scope="session")
def local_kafka(_kafka_server: Server) -> LocalKafka:
    """Control of the broker; skips the test unless it runs against the project-local broker."""
    if _kafka_server.provider != "local":
        pytest.skip(
            f"needs the project-local Kafka (deploy/local/kafka.sh) to stop and restart it; "
            f"this session uses a {_kafka_server.provider} broker at {_kafka_server.address}"
        )
    return LocalKafka(_kafka_server.address)


# ---- databases -------------------------------------------------------------------------------


def unique_name(prefix: str, *, max_length: int = 63) -> str:
    """``<prefix>_<random>`` as a lower-case identifier (PostgreSQL allows 63 bytes)."""
    clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "t"
    suffix = uuid.uuid4().hex[:10]
    return f"{clean[: max_length - len(suffix) - 1]}_{suffix}"


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def create_database(postgres_admin_url: str) -> AsyncIterator[CreateDatabase]:
    """Factory ``await create_database("ideas") -> "postgresql+asyncpg://.../ideas_1a2b..."``.

    Each call makes a fresh database with ``pg_trgm`` and ``unaccent``; all are dropped
    (``WITH (FORCE)``) when the session ends.
    """
    created: list[str] = []

    async def factory(prefix: str) -> str:
        name = unique_name(prefix)
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            for attempt in range(5):
                try:
                    await admin.execute(f'CREATE DATABASE "{name}"')
                    break
                except asyncpg.ObjectInUseError:
                    # "source database template1 is being accessed by other users": another
                    # session is creating a database at this very moment.
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                raise RuntimeError(f"could not create database {name}: template1 stays busy")
        finally:
            await admin.close()
        created.append(name)
        url = make_url(postgres_admin_url).set(database=name)
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        try:
            await conn.execute(
                "CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE EXTENSION IF NOT EXISTS unaccent"
            )
        finally:
            await conn.close()
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)

    yield factory

    if created:
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            for name in created:
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except asyncpg.PostgresError as exc:
                    log.warning("test_database_not_dropped", database=name, error=str(exc))
        finally:
            await admin.close()


# ---- topics ----------------------------------------------------------------------------------


def unique_topic(prefix: str = "test") -> str:
    """A topic name nobody else uses (Kafka allows ``[a-zA-Z0-9._-]``, up to 249 characters)."""
    clean = re.sub(r"[^a-zA-Z0-9._-]+", "-", prefix).strip(".-") or "test"
    return f"{clean[:180]}.t{uuid.uuid4().hex[:12]}"


def unique_topic_prefix() -> str:
    """A topic namespace nobody else uses: ``t<8 hex>.``."""
    return validate_topic_prefix(f"t{uuid.uuid4().hex[:8]}.")


def unique_group(prefix: str = "test") -> str:
    """A consumer group id nobody else uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


CreateTopic = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_topic(kafka_bootstrap_servers: str) -> AsyncIterator[CreateTopic]:
    """Factory ``await kafka_topic("egov.request.v1", partitions=3) -> name``.

    Creates a uniquely named topic and deletes it when the session ends.
    """
    created: list[str] = []

    async def factory(prefix: str = "test", *, partitions: int = 3) -> str:
        spec = TopicSpec(unique_topic(prefix), partitions=partitions)
        await ensure_topics(kafka_bootstrap_servers, [spec])
        created.append(spec.name)
        return spec.name

    yield factory

    await delete_topics(kafka_bootstrap_servers, created)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_topic_prefix(kafka_bootstrap_servers: str) -> AsyncIterator[str]:
    """This test session's topic namespace (``t<8 hex>.``), for ``KOMMUNE_KAFKA_TOPIC_PREFIX``.

    Services given it create, publish to and consume ``<prefix><logical name>`` only, so they see
    neither other sessions' events nor a developer's (``make up`` uses no prefix), and their
    consumer groups are ``<prefix><group id>``. Every topic under the prefix is deleted when the
    session ends (best effort).
    """
    prefix = unique_topic_prefix()
    yield prefix
    await delete_prefixed_topics(kafka_bootstrap_servers, prefix)


async def delete_prefixed_topics(bootstrap_servers: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix``; best effort, like delete_topics."""
    if not prefix:
        raise ValueError("refusing to delete the topics of the empty (production/dev) namespace")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(20):
            await admin.start()
            topics = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if topics:
                await admin.delete_topics(topics)
    except Exception as exc:
        log.warning("test_topics_not_deleted", prefix=prefix, error=repr(exc))
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, topics: list[str]) -> None:
    """Best effort: a broker that is down at the end of the session keeps them."""
    if not topics:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(20):
            await admin.start()
            await admin.delete_topics(topics)
    except Exception as exc:
        log.warning("test_topics_not_deleted", count=len(topics), error=repr(exc))
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, topic: str, *, wait: float = 15.0) -> list[int]:
    """The partition numbers of ``topic``, waiting a moment for a just-created topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        async with asyncio.timeout(wait):
            while True:
                [described] = await admin.describe_topics([topic])
                if described["error_code"] == 0 and described["partitions"]:
                    return sorted(p["partition"] for p in described["partitions"])
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


# ---- reading what arrived ----------------------------------------------------------------------


async def produce_events(bootstrap_servers: str, *records: tuple[str, DomainEvent, str]) -> None:
    """Publish ``(physical topic, event, source)`` records as the relays do (CloudEvents in
    binary mode, keyed by aggregate), each acknowledged: another service's events, for the
    consumer tests."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        for topic, event, source in records:
            encoded = encode(event, source)
            await producer.send_and_wait(
                topic, encoded.value, key=encoded.key, headers=encoded.headers
            )
    finally:
        await producer.stop()


class KafkaProbe:
    """Reads one topic from offsets captured at :meth:`start` (or from the beginning).

    ``async with KafkaProbe(bootstrap, topic) as probe`` *before* the action, then
    ``await probe.events(predicate)`` / ``await probe.records(predicate)`` after it. Each read
    starts again from the captured offsets, so it can be repeated (e.g. to count duplicates).
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, from_beginning: bool = False) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.from_beginning = from_beginning
        self._consumer: AIOKafkaConsumer | None = None
        self._start: dict[Any, int] = {}

    async def start(self) -> KafkaProbe:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = await topic_partitions(self.bootstrap_servers, self.topic)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            if self.from_beginning:
                self._start = dict(await consumer.beginning_offsets(tps))
            else:
                self._start = dict(await consumer.end_offsets(tps))
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> KafkaProbe:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def records(
        self,
        predicate: Callable[[Any], bool] | None = None,
        *,
        count: int | None = 1,
        timeout: float = 15.0,  # noqa: ASYNC109 (a test helper's deadline)
    ) -> list[Any]:
        """Raw ``ConsumerRecord``s matching ``predicate``.

        With ``count``: return as soon as that many matched, or what matched at ``timeout``.
        With ``count=None``: read everything written so far (up to the end offsets now) and
        return every match — the way to assert "exactly once".
        """
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("KafkaProbe not started")
        tps = list(self._start)
        for tp, offset in self._start.items():
            consumer.seek(tp, offset)
        end = dict(await consumer.end_offsets(tps)) if count is None else None
        matches: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if end is not None and await self._reached(end):
                break
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                matches.extend(r for r in records if predicate is None or predicate(r))
            if count is not None and len(matches) >= count:
                break
        return matches

    async def _reached(self, end: dict[Any, int]) -> bool:
        assert self._consumer is not None
        for tp, offset in end.items():
            if await self._consumer.position(tp) < offset:
                return False
        return True

    async def events(
        self,
        predicate: Callable[[ReceivedEvent], bool] | None = None,
        *,
        count: int | None = 1,
        timeout: float = 15.0,  # noqa: ASYNC109 (a test helper's deadline)
    ) -> list[ReceivedEvent]:
        """Like :meth:`records`, decoded as CloudEvents (a poison record raises)."""

        def matches(record: Any) -> bool:
            return predicate is None or predicate(decode(record))

        return [decode(r) for r in await self.records(matches, count=count, timeout=timeout)]


async def kafka_events(
    bootstrap_servers: str,
    topic: str,
    predicate: Callable[[ReceivedEvent], bool] | None = None,
    *,
    count: int | None = 1,
    timeout: float = 15.0,  # noqa: ASYNC109 (a test helper's deadline)
) -> list[ReceivedEvent]:
    """The events on ``topic`` (from the beginning) that match ``predicate``; see KafkaProbe."""
    async with KafkaProbe(bootstrap_servers, topic, from_beginning=True) as probe:
        return await probe.events(predicate, count=count, timeout=timeout)


OpenProbe = Callable[..., Awaitable[KafkaProbe]]


@pytest_asyncio.fixture(loop_scope="session")
async def kafka_probe(
    kafka_bootstrap_servers: str,
) -> AsyncIterator[Callable[..., Awaitable[KafkaProbe]]]:
    """Factory ``probe = await kafka_probe(topic)``: offsets captured now, closed after the test."""
    probes: list[KafkaProbe] = []

    async def factory(topic: str, *, from_beginning: bool = False) -> KafkaProbe:
        probe = await KafkaProbe(
            kafka_bootstrap_servers, topic, from_beginning=from_beginning
        ).start()
        probes.append(probe)
        return probe

    yield factory
    for probe in probes:
        await probe.stop()
