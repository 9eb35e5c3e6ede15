"""The service starts and serves while the broker is down; topics and events follow it up."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from kommune.migrations import upgrade
from kommune.testing.auth import issuer_settings_overrides, lifespan_client
from kommune.testing.infra import (
    CreateDatabase,
    LocalKafka,
    delete_prefixed_topics,
    kafka_events,
    unique_group,
    unique_topic_prefix,
)
from kommune_ideas import events
from kommune_ideas.main import create_app
from kommune_ideas.settings import IdeasSettings

from .conftest import ALEMBIC_INI, Personas, idea_body


async def _until(condition: Any, deadline: float) -> None:
    """Wait for a real condition (an HTTP or database answer), failing after ``deadline`` s."""
    until = time.monotonic() + deadline
    while not await condition():
        if time.monotonic() > until:
            raise TimeoutError(f"not reached within {deadline}s")
        await asyncio.sleep(0.25)


@pytest.mark.slow
async def test_starts_and_serves_with_the_broker_down_then_catches_up(
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    local_kafka: LocalKafka,
    issuer_transport: httpx.ASGITransport,
    people: Personas,
) -> None:
    url = await create_database("ideas_no_kafka")
    await upgrade(ALEMBIC_INI, url)
    prefix = unique_topic_prefix()  # topics that do not exist yet
    settings = IdeasSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_KAFKA_TOPIC_PREFIX": prefix,
            "database_url": url,
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "consumer_group_prefix": unique_group("ideas-no-kafka"),
            **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
        }
    )
    await local_kafka.stop()
    try:
        started = time.monotonic()
        async with lifespan_client(create_app(settings, http_transport=issuer_transport)) as client:
            assert time.monotonic() - started < 10  # start-up does not wait for the broker

            # HTTP works: the state change and its outbox row are stored.
            department = await client.post(
                "/api/v1/departments",
                json={"code": f"d-{uuid.uuid4().hex[:6]}", "name": "Kämmerei"},
                headers=people.admin.headers,
            )
            assert department.status_code == 201, department.text
            created = await client.post(
                "/api/v1/ideas",
                json=idea_body(department.json()["id"]),
                headers=people.change_agent.headers,
            )
            assert created.status_code == 201, created.text

            # Readiness says what is missing (Kafka is not required: degraded, still 200).
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            report = ready.json()
            assert report["status"] == "degraded"
            assert report["checks"]["kafka"]["status"] == "fail"
            topics = report["checks"]["topics"]
            assert topics["status"] == "fail"
            assert events.IDEA_TOPIC in topics["missing"]

            await local_kafka.start()

            async def topics_ready() -> bool:
                body = (await client.get("/readyz")).json()
                return bool(body["checks"]["topics"]["status"] == "ok")

            await _until(topics_ready, deadline=120)

            async def relayed() -> bool:
                body = (await client.get("/readyz")).json()
                return bool(body["checks"]["outbox"]["backlog"] == 0)

            await _until(relayed, deadline=60)
        received = await kafka_events(kafka_bootstrap_servers, prefix + events.IDEA_TOPIC, count=1)
        assert [e.data["idea_id"] for e in received] == [created.json()["id"]]
    finally:
        await local_kafka.start()  # idempotent: running already, or started again here
        await delete_prefixed_topics(kafka_bootstrap_servers, prefix)
