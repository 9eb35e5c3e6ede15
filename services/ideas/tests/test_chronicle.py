"""The chronicle: news by editors, comments, and announcements from other services' events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from kommune.events.outbox import DomainEvent
from kommune.events.topics import physical_topic
from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.infra import produce_events
from kommune_ideas import events
from kommune_ideas.settings import IdeasSettings

from .conftest import Db, Personas, assert_problem


async def test_news_with_comments_and_one_level_of_replies(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    published = await client.post(
        "/api/v1/chronicle",
        json={
            "title": "Die E-Akte startet im Bauamt",
            "body": "Ab Montag arbeitet das Bauamt mit der E-Akte (enaio).",
            "link_url": "https://intranet.heidenheim.de/enaio",
        },
        headers=people.project_lead.headers,
    )
    assert published.status_code == 201, published.text
    entry = published.json()
    assert entry["kind"] == "news"
    assert entry["author"]["id"] == people.project_lead.sub
    base = f"/api/v1/chronicle/{entry['id']}/comments"
    top = await client.post(
        base, json={"body": "Wann folgt das Ordnungsamt?"}, headers=people.staff.headers
    )
    assert top.status_code == 201
    reply = await client.post(
        base,
        json={"body": "Im Herbst.", "parent_id": top.json()["id"]},
        headers=people.project_lead.headers,
    )
    assert reply.status_code == 201
    before = await db.snapshot()
    nested = await client.post(
        base,
        json={"body": "Danke!", "parent_id": reply.json()["id"]},
        headers=people.staff.headers,
    )
    assert_problem(nested, 422)
    assert await db.snapshot() == before

    threads = (await client.get(base, headers=people.caseworker.headers)).json()["items"]
    assert [(t["body"], [r["body"] for r in t["replies"]]) for t in threads] == [
        ("Wann folgt das Ordnungsamt?", ["Im Herbst."])
    ]
    detail = (
        await client.get(f"/api/v1/chronicle/{entry['id']}", headers=people.staff.headers)
    ).json()
    assert detail["comment_count"] == 2

    edited = await client.patch(
        f"/api/v1/chronicle/{entry['id']}",
        json={"title": "Die E-Akte startet"},
        headers=people.admin.headers,
    )
    assert edited.json()["title"] == "Die E-Akte startet"
    assert_problem(
        await client.patch(
            f"/api/v1/chronicle/{entry['id']}",
            json={"title": "Meins"},
            headers=people.change_agent.headers,
        ),
        403,
    )


async def test_bad_news_is_422(client: httpx.AsyncClient, people: Personas, db: Db) -> None:
    before = await db.snapshot()
    for payload in (
        {"title": "Ohne Text"},
        {"title": "Link", "body": "x", "link_url": "javascript:alert(1)"},
        {"title": "x" * 201, "body": "x"},
        {"title": "Extra", "body": "x", "kind": "announcement"},
    ):
        response = await client.post(
            "/api/v1/chronicle", json=payload, headers=people.project_lead.headers
        )
        assert_problem(response, 422)
    assert await db.snapshot() == before


def announcement(service_id: uuid.UUID, name: str) -> DomainEvent:
    return DomainEvent(
        topic=events.EGOV_SERVICE_TOPIC,
        type=events.EGOV_SERVICE_PUBLISHED,
        aggregate_type="service",
        aggregate_id=str(service_id),
        data={
            "service_id": str(service_id),
            "name": name,
            "summary": "Bürgerinnen und Bürger melden ihren Wohnsitz jetzt online an.",
            "url": "https://www.heidenheim.de/online-dienste/wohnsitz",
            "department": "Bürgeramt",
            "published_at": datetime.now(UTC).isoformat(),
        },
    )


async def test_an_announcement_delivered_twice_makes_one_entry(
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    settings: IdeasSettings,
    kafka_bootstrap_servers: str,
    assert_event_valid: AssertEventValid,
) -> None:
    service_id = uuid.uuid4()
    event = announcement(service_id, "Wohnsitz online anmelden")
    assert_event_valid(event.type, event.data)
    # The same event (same ce_id) twice, then a marker on the same key: once the marker's entry
    # exists, both copies were handled (one partition, in order).
    marker = announcement(service_id, "Marker")
    # egov's side of the contract: its logical topic, in this session's namespace.
    egov_topic = physical_topic(settings.kafka_topic_prefix, settings.egov_service_topic)
    await produce_events(
        kafka_bootstrap_servers,
        (egov_topic, event, "/kommune/egov"),
        (egov_topic, event, "/kommune/egov"),
        (egov_topic, marker, "/kommune/egov"),
    )

    async def marker_entry() -> Any:
        return await db.scalar(
            "SELECT id FROM chronicle_entries WHERE source_event_id = :id", id=str(marker.id)
        )

    await wait_until(marker_entry, deadline=45)
    rows = await db.rows(
        "SELECT id, kind, title, link_url FROM chronicle_entries WHERE source_event_id = :id",
        id=str(event.id),
    )
    assert len(rows) == 1
    assert rows[0]["kind"] == "announcement"
    assert rows[0]["title"] == "Neuer Online-Dienst: Wohnsitz online anmelden"
    assert rows[0]["link_url"] == "https://www.heidenheim.de/online-dienste/wohnsitz"
    assert await db.scalar("SELECT count(*) FROM inbox WHERE event_id = :id", id=str(event.id)) == 1
    listed = (
        await client.get(
            "/api/v1/chronicle?kind=announcement&limit=100", headers=people.staff.headers
        )
    ).json()["items"]
    assert str(rows[0]["id"]) in [entry["id"] for entry in listed]


async def test_events_about_ideas_of_another_database_are_skipped(
    db: Db, settings: IdeasSettings, kafka_bootstrap_servers: str
) -> None:
    """An implemented idea that this database does not hold (e.g. a second checkout or a restored
    database sharing the namespace) makes no chronicle entry, but the event is consumed (inbox)."""
    stranger = uuid.uuid4()
    event = DomainEvent(
        topic=events.IDEA_TOPIC,
        type=events.IDEA_STATUS_CHANGED,
        aggregate_type="idea",
        aggregate_id=str(stranger),
        data={
            "idea_id": str(stranger),
            "title": "Fremde Idee",
            "from_status": "in_progress",
            "to_status": "implemented",
            "note": "Anderswo umgesetzt.",
            "reason": None,
            "decision": False,
            "changed_by": "ca-x",
            "changed_by_name": None,
            "meeting_id": None,
            "changed_at": datetime.now(UTC).isoformat(),
        },
    )
    await produce_events(
        kafka_bootstrap_servers,
        (physical_topic(settings.kafka_topic_prefix, events.IDEA_TOPIC), event, events.SOURCE),
    )

    async def claimed() -> Any:
        return await db.scalar(
            "SELECT count(*) FROM inbox WHERE event_id = :id AND consumer_group = :group",
            id=str(event.id),
            group=f"{settings.consumer_group_prefix}.chronicle",
        )

    await wait_until(claimed, deadline=45)
    assert (
        await db.scalar("SELECT count(*) FROM chronicle_entries WHERE idea_id = :id", id=stranger)
        == 0
    )
