"""Events egov consumes, produced onto the real broker as their producers would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from kommune.events.outbox import DomainEvent
from kommune.events.topics import physical_topic
from kommune.testing.conditions import wait_until
from kommune.testing.infra import produce_events
from kommune_egov import events
from kommune_egov.settings import EgovSettings

from .conftest import Api, Cast, Db


def alert_event(alert_id: uuid.UUID, kind: str = "waste_container_full") -> DomainEvent:
    return DomainEvent(
        topic=events.SENSOR_ALERT_TOPIC,
        type=events.SENSOR_ALERT_RAISED,
        aggregate_type="alert",
        aggregate_id=str(alert_id),
        subject=str(alert_id),
        data={
            "alert_id": str(alert_id),
            "kind": kind,
            "thing_id": 17,
            "thing_name": "Unterflurcontainer Eugen-Jaekle-Platz",
            "location": {"lat": 48.6761, "lon": 10.1529},
            "district": "Innenstadt",
            "value": 0.93,
            "threshold": 0.8,
            "raised_at": datetime.now(UTC).isoformat(),
            "a_field_added_later": "ignored",
        },
    )


async def inbox_has(db: Db, group: str, *event_ids: str) -> bool:
    count = await db.scalar(
        "SELECT count(*) FROM inbox WHERE consumer_group LIKE :group AND event_id = ANY(:ids)",
        group=f"%{group}",
        ids=list(event_ids),
    )
    return int(count) == len(event_ids)


async def test_a_sensor_alert_delivered_twice_opens_one_work_order(
    db: Db,
    settings: EgovSettings,
    kafka_bootstrap_servers: str,
    client: httpx.AsyncClient,
    cast: Cast,
) -> None:
    alert_id = uuid.uuid4()
    event = alert_event(alert_id)
    # The same alert again under a new event id (a producer that retried after a crash).
    republished = alert_event(alert_id)
    topic = physical_topic(settings.kafka_topic_prefix, events.SENSOR_ALERT_TOPIC)
    await produce_events(
        kafka_bootstrap_servers,
        (topic, event, "/kommune/sensors"),
        (topic, event, "/kommune/sensors"),
        (topic, republished, "/kommune/sensors"),
    )
    # One key, one partition, in order: once the last copy is in the inbox, all were handled.
    await wait_until(
        lambda: inbox_has(db, "sensor-alerts", str(event.id), str(republished.id)), deadline=30
    )
    rows = await db.rows(
        "SELECT id, service_code, department, origin, status, latitude, data"
        " FROM applications WHERE source_alert_id = :id",
        id=alert_id,
    )
    assert len(rows) == 1
    [order] = rows
    assert order["service_code"] == "overflowing_bin"
    assert order["department"] == "bauhof"
    assert order["origin"] == "sensor"
    assert order["latitude"] == 48.6761
    assert "93" in order["data"]["description"]
    assert (
        await db.scalar(
            "SELECT count(*) FROM recorded.outbox WHERE aggregateid = :id", id=str(order["id"])
        )
        == 1
    )
    # It is in the same queue as citizens' reports, for the Bauhof only.
    queue = await client.get(
        "/api/v1/applications",
        params={"origin": "sensor", "limit": 100},
        headers=cast.bauhof.headers,
    )
    assert str(order["id"]) in {a["id"] for a in queue.json()["items"]}
    other = await client.get(
        "/api/v1/applications",
        params={"origin": "sensor", "limit": 100},
        headers=cast.buergeramt.headers,
    )
    assert str(order["id"]) not in {a["id"] for a in other.json()["items"]}


async def test_schoolyard_activity_goes_to_the_ordnungsamt(
    db: Db, settings: EgovSettings, kafka_bootstrap_servers: str
) -> None:
    alert_id = uuid.uuid4()
    event = alert_event(alert_id, "schoolyard_night_activity")
    topic = physical_topic(settings.kafka_topic_prefix, events.SENSOR_ALERT_TOPIC)
    await produce_events(kafka_bootstrap_servers, (topic, event, "/kommune/sensors"))
    await wait_until(lambda: inbox_has(db, "sensor-alerts", str(event.id)), deadline=30)
    [row] = await db.rows(
        "SELECT service_code, department FROM applications WHERE source_alert_id = :id",
        id=alert_id,
    )
    assert row == {"service_code": "schoolyard_check", "department": "ordnungsamt"}


def filed_event(application_id: str, file_number: str) -> DomainEvent:
    data: dict[str, Any] = {
        "source": "egov.application",
        "source_id": application_id,
        "file_id": str(uuid.uuid4()),
        "file_number": file_number,
        "process_id": str(uuid.uuid4()),
        "filed_at": datetime.now(UTC).isoformat(),
        "unknown_later_field": True,
    }
    return DomainEvent(
        topic=events.FILING_TOPIC,
        type=events.FILING_FILED,
        aggregate_type="filing",
        aggregate_id=application_id,
        subject=application_id,
        data=data,
    )


async def test_the_file_number_appears_on_the_case(
    api: Api,
    cast: Cast,
    db: Db,
    settings: EgovSettings,
    kafka_bootstrap_servers: str,
    client: httpx.AsyncClient,
) -> None:
    created = await api.submit()
    assert created["file_number"] is None
    event = filed_event(created["id"], "022.31-2026/0042")
    stranger = filed_event(str(uuid.uuid4()), "022.31-2026/9999")  # not an application of ours
    topic = physical_topic(settings.kafka_topic_prefix, events.FILING_TOPIC)
    await produce_events(
        kafka_bootstrap_servers,
        (topic, event, "/kommune/documents"),
        (topic, stranger, "/kommune/documents"),
    )
    await wait_until(lambda: inbox_has(db, "filing", str(event.id), str(stranger.id)), deadline=30)
    for persona in (cast.citizen, cast.buergeramt):
        response = await client.get(
            f"/api/v1/applications/{created['id']}", headers=persona.headers
        )
        assert response.json()["file_number"] == "022.31-2026/0042"
