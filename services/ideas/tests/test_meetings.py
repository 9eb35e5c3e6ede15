"""Innovation circles: the proposed agenda, editing it, and minutes that change statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import Api, Db, Personas, assert_problem


async def schedule(
    client: httpx.AsyncClient, headers: dict[str, str], when: datetime, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/meetings",
        json={"title": "Innovationszirkel", "scheduled_at": when.isoformat(), **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def circle(api: Api, client: httpx.AsyncClient, people: Personas) -> dict[str, Any]:
    """Z (old idea) and F (up for decision) exist before the last circle; X and Y after it."""
    ca = people.change_agent
    old = await api.create_idea(title="Alte Idee ohne Bewegung")
    deciding = await api.create_idea(title="Idee zur Entscheidung")
    await api.move(deciding["id"], "for_decision", ca)
    last = await schedule(client, ca.headers, datetime.now(UTC), propose_agenda=False)
    new_x = await api.create_idea(title="Neue Idee X")
    new_y = await api.create_idea(title="Neue Idee Y", author=people.other_change_agent)
    upcoming = await schedule(
        client,
        ca.headers,
        datetime.now(UTC) + timedelta(days=7),
        location="Rathaus, Raum 3.12",
        participants=[
            {"user_id": ca.sub, "name": ca.name},
            {"user_id": people.other_change_agent.sub},
        ],
    )
    return {
        "last": last,
        "meeting": upcoming,
        "old": old["id"],
        "deciding": deciding["id"],
        "x": new_x["id"],
        "y": new_y["id"],
    }


def agenda(meeting: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["idea_id"]: item for item in meeting["agenda"] if item["idea_id"]}


async def test_agenda_is_proposed_from_new_and_for_decision_ideas(circle: dict[str, Any]) -> None:
    items = agenda(circle["meeting"])
    assert items[circle["x"]]["kind"] == "new_idea"
    assert items[circle["y"]]["kind"] == "new_idea"
    assert items[circle["deciding"]]["kind"] == "for_decision"
    assert circle["old"] not in items
    positions = [item["position"] for item in circle["meeting"]["agenda"]]
    assert positions == list(range(1, len(positions) + 1))
    assert circle["meeting"]["location"] == "Rathaus, Raum 3.12"
    assert len(circle["meeting"]["participants"]) == 2


async def test_the_agenda_is_editable(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any], db: Db
) -> None:
    meeting_id = circle["meeting"]["id"]
    base = f"/api/v1/meetings/{meeting_id}/agenda-items"
    headers = people.change_agent.headers
    added = await client.post(base, json={"idea_id": circle["old"], "position": 1}, headers=headers)
    assert added.status_code == 201, added.text
    first = added.json()["agenda"][0]
    assert (first["idea_id"], first["kind"], first["position"]) == (circle["old"], "idea", 1)
    topic = await client.post(base, json={"title": "Verschiedenes"}, headers=headers)
    assert topic.json()["agenda"][-1]["kind"] == "topic"
    duplicate = await client.post(base, json={"idea_id": circle["old"]}, headers=headers)
    assert_problem(duplicate, 409)
    unknown = await client.post(base, json={"idea_id": str(uuid.uuid4())}, headers=headers)
    assert_problem(unknown, 422)

    topic_id = topic.json()["agenda"][-1]["id"]
    moved = await client.patch(f"{base}/{topic_id}", json={"position": 2}, headers=headers)
    assert [i["id"] for i in moved.json()["agenda"]][1] == topic_id
    removed = await client.delete(f"{base}/{topic_id}", headers=headers)
    assert topic_id not in [i["id"] for i in removed.json()["agenda"]]
    positions = [i["position"] for i in removed.json()["agenda"]]
    assert positions == list(range(1, len(positions) + 1))

    minutes = await client.patch(
        f"/api/v1/meetings/{meeting_id}",
        json={"minutes": "Alle waren da.", "location": None},
        headers=headers,
    )
    assert minutes.json()["minutes"] == "Alle waren da."
    assert minutes.json()["location"] is None

    # A project lead reads but does not organise.
    assert (
        await client.get(f"/api/v1/meetings/{meeting_id}", headers=people.project_lead.headers)
    ).status_code == 200
    before = await db.snapshot()
    assert_problem(
        await client.post(base, json={"title": "Von oben"}, headers=people.project_lead.headers),
        403,
    )
    assert await db.snapshot() == before


async def test_an_outcome_performs_the_status_change(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any], db: Db
) -> None:
    meeting_id = circle["meeting"]["id"]
    item = agenda(circle["meeting"])[circle["x"]]
    # Recorded by a change agent who is not the author: in the circle they act together.
    response = await client.post(
        f"/api/v1/meetings/{meeting_id}/agenda-items/{item['id']}/outcome",
        json={"note": "Der Zirkel legt die Idee zur Entscheidung vor.", "status": "for_decision"},
        headers=people.other_change_agent.headers,
    )
    assert response.status_code == 200, response.text
    outcome = agenda(response.json())[circle["x"]]["outcome"]
    assert outcome["new_status"] == "for_decision"
    assert outcome["recorded_by"] == people.other_change_agent.sub

    idea = (
        await client.get(f"/api/v1/ideas/{circle['x']}", headers=people.change_agent.headers)
    ).json()
    assert idea["status"] == "for_decision"
    assert idea["answer"] == "Der Zirkel legt die Idee zur Entscheidung vor."
    history = (
        await client.get(
            f"/api/v1/ideas/{circle['x']}/history", headers=people.change_agent.headers
        )
    ).json()["items"]
    assert history[-1]["meeting_id"] == meeting_id
    assert history[-1]["to_status"] == "for_decision"
    types = {
        row["type"]
        for row in await db.rows(
            "SELECT type FROM recorded.outbox WHERE aggregateid IN (:idea, :meeting)",
            idea=circle["x"],
            meeting=meeting_id,
        )
    }
    assert "de.kommune.ideas.idea.status_changed.v1" in types
    assert "de.kommune.ideas.meeting.outcome_recorded.v1" in types

    again = await client.post(
        f"/api/v1/meetings/{meeting_id}/agenda-items/{item['id']}/outcome",
        json={"note": "Nochmal"},
        headers=people.change_agent.headers,
    )
    assert_problem(again, 409)
    removed = await client.delete(
        f"/api/v1/meetings/{meeting_id}/agenda-items/{item['id']}",
        headers=people.change_agent.headers,
    )
    assert_problem(removed, 409)


async def test_only_project_leads_decide_in_the_minutes_too(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any], db: Db
) -> None:
    meeting_id = circle["meeting"]["id"]
    item = agenda(circle["meeting"])[circle["deciding"]]
    path = f"/api/v1/meetings/{meeting_id}/agenda-items/{item['id']}/outcome"
    payload = {"note": "Umsetzen!", "status": "in_progress"}
    before = await db.snapshot(circle["deciding"])
    assert_problem(await client.post(path, json=payload, headers=people.change_agent.headers), 403)
    assert_problem(await client.post(path, json=payload, headers=people.staff.headers), 403)
    assert await db.snapshot(circle["deciding"]) == before
    meeting = (
        await client.get(f"/api/v1/meetings/{meeting_id}", headers=people.change_agent.headers)
    ).json()
    assert agenda(meeting)[circle["deciding"]]["outcome"] is None

    rejected_without_reason = await client.post(
        path, json={"note": "Nein", "status": "rejected"}, headers=people.project_lead.headers
    )
    assert_problem(rejected_without_reason, 422)
    decided = await client.post(path, json=payload, headers=people.project_lead.headers)
    assert decided.status_code == 200, decided.text
    idea = await client.get(f"/api/v1/ideas/{circle['deciding']}", headers=people.staff.headers)
    assert idea.json()["status"] == "in_progress"


async def test_an_impossible_outcome_records_nothing(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any], db: Db
) -> None:
    meeting_id = circle["meeting"]["id"]
    item = agenda(circle["meeting"])[circle["y"]]
    path = f"/api/v1/meetings/{meeting_id}/agenda-items/{item['id']}/outcome"
    before = await db.snapshot(circle["y"])
    body = assert_problem(
        await client.post(
            path,
            json={"note": "Schon fertig", "status": "implemented"},
            headers=people.change_agent.headers,
        ),
        409,
    )
    assert body["current_status"] == "idea"
    assert_problem(
        await client.post(
            path, json={"note": "Nein", "reason": "Weil"}, headers=people.change_agent.headers
        ),
        422,
    )
    assert await db.snapshot(circle["y"]) == before
    assert (
        await db.scalar(
            "SELECT outcome_recorded_at FROM agenda_items WHERE id = :id", id=uuid.UUID(item["id"])
        )
        is None
    )

    discussed = await client.post(
        path,
        json={"note": "Besprochen, kommt nächstes Mal wieder."},
        headers=people.change_agent.headers,
    )
    assert discussed.status_code == 200
    assert agenda(discussed.json())[circle["y"]]["outcome"]["new_status"] is None
    idea = (await client.get(f"/api/v1/ideas/{circle['y']}", headers=people.staff.headers)).json()
    assert idea["status"] == "idea"


async def test_a_topic_has_no_status(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any]
) -> None:
    meeting_id = circle["meeting"]["id"]
    topic = await client.post(
        f"/api/v1/meetings/{meeting_id}/agenda-items",
        json={"title": "Schulung enaio"},
        headers=people.change_agent.headers,
    )
    item_id = topic.json()["agenda"][-1]["id"]
    response = await client.post(
        f"/api/v1/meetings/{meeting_id}/agenda-items/{item_id}/outcome",
        json={"note": "Termin steht", "status": "implemented"},
        headers=people.change_agent.headers,
    )
    assert_problem(response, 422)


async def test_meetings_list_upcoming_and_past(
    client: httpx.AsyncClient, people: Personas, circle: dict[str, Any]
) -> None:
    headers = people.project_lead.headers
    upcoming = (
        await client.get("/api/v1/meetings?period=upcoming&limit=100", headers=headers)
    ).json()
    past = (await client.get("/api/v1/meetings?period=past&limit=100", headers=headers)).json()
    assert circle["meeting"]["id"] in [m["id"] for m in upcoming["items"]]
    assert circle["last"]["id"] in [m["id"] for m in past["items"]]
    times = [m["scheduled_at"] for m in upcoming["items"]]
    assert times == sorted(times)
