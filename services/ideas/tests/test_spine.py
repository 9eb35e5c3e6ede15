"""The spine: posting an idea stores it and its event in one transaction; the relay publishes it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kommune.events.topics import physical_topic
from kommune.testing.contracts import AssertEventValid
from kommune.testing.infra import OpenProbe
from kommune_ideas import events

from .conftest import Db, Personas, idea_body


async def test_change_agent_posts_an_idea_and_its_event_reaches_kafka(
    client: httpx.AsyncClient,
    people: Personas,
    department: dict[str, Any],
    db: Db,
    kafka_probe: OpenProbe,
    kafka_topic_prefix: str,
    assert_event_valid: AssertEventValid,
) -> None:
    probe = await kafka_probe(physical_topic(kafka_topic_prefix, events.IDEA_TOPIC))

    response = await client.post(
        "/api/v1/ideas", json=idea_body(department["id"]), headers=people.change_agent.headers
    )

    assert response.status_code == 201, response.text
    idea = response.json()
    idea_id = idea["id"]
    assert idea["status"] == "idea"
    assert idea["author"] == {"id": people.change_agent.sub, "name": "Anna Schmid"}
    assert idea["tags"] == ["e-rechnung", "kämmerei"]
    assert idea["created_at"].endswith(("Z", "+00:00"))

    # The row and its outbox event were committed together.
    assert (
        await db.scalar("SELECT status FROM ideas WHERE id = :id", id=uuid.UUID(idea_id)) == "idea"
    )
    [row] = await db.rows(
        "SELECT type, topic, aggregateid, payload FROM recorded.outbox WHERE aggregateid = :id",
        id=idea_id,
    )
    assert row["type"] == events.IDEA_CREATED
    assert row["topic"] == events.IDEA_TOPIC

    # The relay publishes it: CloudEvents binary mode, keyed by the idea id.
    [event] = await probe.events(lambda e: e.key == idea_id, timeout=30)
    assert event.type == "de.kommune.ideas.idea.created.v1"
    assert event.source == "/kommune/ideas"
    assert event.subject == idea_id
    assert event.time is not None
    assert event.dataschema == (
        "https://kommune.heidenheim.de/schemas/events/de.kommune.ideas.idea.created.v1.json"
    )
    for header in ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject"):
        assert header in event.headers
    assert event.headers["ce_specversion"] == "1.0"
    assert event.data["idea_id"] == idea_id
    assert event.data["title"] == "Rechnungen digital freigeben"
    assert_event_valid(event.type, event.data)

    # And the store lists it for staff.
    listed = await client.get("/api/v1/ideas", headers=people.staff.headers)
    assert listed.status_code == 200
    assert idea_id in {item["id"] for item in listed.json()["items"]}
