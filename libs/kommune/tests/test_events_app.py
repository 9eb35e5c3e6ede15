"""The events side of ``create_service_app``: the relay's own database URL, readiness details."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx

from kommune.app import create_service_app
from kommune.events.topics import TopicSpec
from kommune.settings import ServiceSettings
from kommune.testing.auth import issuer_settings_overrides, lifespan_client
from kommune.testing.conditions import wait_until
from kommune.testing.infra import (
    CreateDatabase,
    delete_prefixed_topics,
    kafka_events,
    unique_topic_prefix,
)

from .conftest import TEST_SOURCE

if TYPE_CHECKING:
    from .conftest import EventsDb, MakeEvent


async def test_the_relay_uses_its_own_database_url(
    events_db: EventsDb,
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    issuer_transport: httpx.ASGITransport,
    make_event: MakeEvent,
) -> None:
    """``relay_database_url`` (a direct connection where the app goes through a pooler) is the
    one the relay reads: here it names another database, so only its rows can be published."""
    app_database = await create_database("app_via_pooler")
    prefix = unique_topic_prefix()
    topic = "things.thing.v1"
    settings = ServiceSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_KAFKA_TOPIC_PREFIX": prefix,
            "service_name": f"relay-url-{uuid.uuid4().hex[:6]}",
            "database_url": app_database,
            "relay_database_url": events_db.url,
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "consumers_enabled": False,
            **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
        }
    )
    app = create_service_app(
        settings,
        title="Relay URL",
        topics=[TopicSpec(topic, partitions=1)],
        http_transport=issuer_transport,
    )
    event = make_event(topic, "t-1", {"n": 1})
    try:
        async with lifespan_client(app) as client:
            await events_db.add_events(event, source=TEST_SOURCE)

            async def published() -> bool:
                sent: Any = await events_db.scalar(
                    "SELECT NOT EXISTS (SELECT FROM outbox WHERE id = :id)", id=event.id
                )
                return bool(sent)

            await wait_until(published, deadline=60)
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["topics"]["status"] == "ok"
        [received] = await kafka_events(kafka_bootstrap_servers, prefix + topic, count=1)
        assert received.id == str(event.id)
    finally:
        await delete_prefixed_topics(kafka_bootstrap_servers, prefix)
