"""The issue's acceptance scenario, end to end, with the chronicle consumer running for real."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kommune.events.topics import physical_topic
from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.infra import OpenProbe
from kommune_ideas import events

from .conftest import Db, Personas, assert_problem, idea_body


async def test_acceptance_scenario(
    client: httpx.AsyncClient,
    people: Personas,
    department: dict[str, Any],
    db: Db,
    kafka_probe: OpenProbe,
    kafka_topic_prefix: str,
    assert_event_valid: AssertEventValid,
) -> None:
    idea_probe = await kafka_probe(physical_topic(kafka_topic_prefix, events.IDEA_TOPIC))
    chronicle_probe = await kafka_probe(physical_topic(kafka_topic_prefix, events.CHRONICLE_TOPIC))
    ca, staff, lead, citizen = (
        people.change_agent,
        people.staff,
        people.project_lead,
        people.citizen,
    )

    # 1. A change agent creates an idea.
    created = await client.post(
        "/api/v1/ideas",
        json=idea_body(
            department["id"],
            title="Eingangsrechnungsworkflow für alle Ämter",
            tags=["e-rechnung"],
        ),
        headers=ca.headers,
    )
    assert created.status_code == 201, created.text
    idea_id = created.json()["id"]
    path = f"/api/v1/ideas/{idea_id}"

    # 2. A staff member sees it in the store but gets 403 on its comments.
    store = await client.get("/api/v1/ideas?q=Eingangsrechnungsworkflow", headers=staff.headers)
    assert idea_id in [item["id"] for item in store.json()["items"]]
    assert (await client.get(path, headers=staff.headers)).status_code == 200
    assert_problem(await client.get(f"{path}/comments", headers=staff.headers), 403)
    assert_problem(
        await client.post(f"{path}/comments", json={"body": "Ich auch!"}, headers=staff.headers),
        403,
    )

    # 3. It moves to for_decision (the change agents discussed it first).
    discussed = await client.post(
        f"{path}/comments", json={"body": "Bitte den Leitern vorlegen."}, headers=ca.headers
    )
    assert discussed.status_code == 201
    moved = await client.post(
        f"{path}/status",
        json={"status": "for_decision", "note": "Zur Entscheidung an die Teilprojektleitung."},
        headers=ca.headers,
    )
    assert moved.status_code == 200, moved.text

    # 4. A project lead comments in the leaders' forum ...
    lead_comment = await client.post(
        f"{path}/decision-comments",
        json={"body": "Passt in den Haushalt 2026."},
        headers=lead.headers,
    )
    assert lead_comment.status_code == 201

    # 5. ... the change agent cannot decide (403) ...
    assert_problem(
        await client.post(
            f"{path}/status",
            json={"status": "in_progress", "note": "Ich entscheide selbst."},
            headers=ca.headers,
        ),
        403,
    )
    assert_problem(await client.get(f"{path}/decision-comments", headers=ca.headers), 403)

    # ... the project lead decides.
    decided = await client.post(
        f"{path}/status",
        json={"status": "in_progress", "note": "Freigegeben: Umsetzung ab Mai mit der Kämmerei."},
        headers=lead.headers,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["answer"] == "Freigegeben: Umsetzung ab Mai mit der Kämmerei."

    # The author reports it implemented.
    done = await client.post(
        f"{path}/status",
        json={"status": "implemented", "note": "Seit 1. Juni im Echtbetrieb."},
        headers=ca.headers,
    )
    assert done.status_code == 200, done.text

    # 6. A citizen gets 403 everywhere here.
    for method, url in [
        ("GET", path),
        ("GET", f"{path}/history"),
        ("GET", f"{path}/comments"),
        ("GET", f"{path}/decision-comments"),
        ("GET", "/api/v1/ideas?q=Rechnung"),
        ("GET", "/api/v1/chronicle"),
    ]:
        assert_problem(await client.request(method, url, headers=citizen.headers), 403)

    # 7. The idea's history shows every step, with its notes.
    history = (await client.get(f"{path}/history", headers=staff.headers)).json()["items"]
    steps = [(h["kind"], h["from_status"], h["to_status"], h["actor"]["id"]) for h in history]
    assert steps == [
        ("created", None, "idea", ca.sub),
        ("status_changed", "idea", "for_decision", ca.sub),
        ("status_changed", "for_decision", "in_progress", lead.sub),
        ("status_changed", "in_progress", "implemented", ca.sub),
    ]
    assert [h["note"] for h in history[1:]] == [
        "Zur Entscheidung an die Teilprojektleitung.",
        "Freigegeben: Umsetzung ab Mai mit der Kämmerei.",
        "Seit 1. Juni im Echtbetrieb.",
    ]

    # 8. Every event reached Kafka and keeps its schema; comment events carry no text.
    idea_events = await idea_probe.events(lambda e: e.key == idea_id, count=6, timeout=30)
    assert [e.type for e in idea_events] == [
        events.IDEA_CREATED,
        events.IDEA_COMMENTED,
        events.IDEA_STATUS_CHANGED,
        events.IDEA_COMMENTED,
        events.IDEA_STATUS_CHANGED,
        events.IDEA_STATUS_CHANGED,
    ]
    for event in idea_events:
        assert_event_valid(event.type, event.data)
    leaders_event = idea_events[3]
    assert leaders_event.data["forum"] == "leaders"
    assert "Haushalt" not in str(leaders_event.data)
    assert idea_events[4].data["decision"] is True

    # 9. The chronicle consumer picked up the decision and the implementation.
    async def chronicle_entries() -> list[dict[str, Any]]:
        entries = (await client.get("/api/v1/chronicle?limit=100", headers=staff.headers)).json()[
            "items"
        ]
        mine = [e for e in entries if e["idea_id"] == idea_id]
        return mine if len(mine) == 2 else []

    entries = await wait_until(chronicle_entries, deadline=45)
    kinds = {e["kind"]: e for e in entries}
    assert set(kinds) == {"decision_taken", "idea_implemented"}
    implemented = kinds["idea_implemented"]
    assert implemented["title"] == "Umgesetzt: Eingangsrechnungsworkflow für alle Ämter"
    assert "Seit 1. Juni im Echtbetrieb." in implemented["body"]
    assert implemented["author"] is None
    published = await chronicle_probe.events(
        lambda e: e.data.get("idea_id") == idea_id, count=2, timeout=30
    )
    for event in published:
        assert event.type == events.CHRONICLE_PUBLISHED
        assert_event_valid(event.type, event.data)
    # Exactly one entry per event, even though the consumer keeps running.
    assert (
        await db.scalar(
            "SELECT count(*) FROM chronicle_entries WHERE idea_id = :id", id=uuid.UUID(idea_id)
        )
        == 2
    )
