"""The FAQ: ordered entries, edited by editors."""

from __future__ import annotations

import uuid

import httpx

from .conftest import Db, Personas, assert_problem


async def test_faq_entries_in_order_and_editable(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    suffix = uuid.uuid4().hex[:6]
    editor = people.project_lead.headers
    made = []
    for position, question in ((30, "Was ist die Chronik?"), (10, "Was sind Change Agents?")):
        response = await client.post(
            "/api/v1/faq",
            json={
                "question": f"{question} {suffix}",
                "answer": "Siehe Intranet.",
                "position": position,
            },
            headers=editor,
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    listed = (await client.get("/api/v1/faq?limit=100", headers=people.staff.headers)).json()[
        "items"
    ]
    mine = [e["question"] for e in listed if e["question"].endswith(suffix)]
    assert mine == [f"Was sind Change Agents? {suffix}", f"Was ist die Chronik? {suffix}"]

    before = await db.snapshot()
    duplicate = await client.post(
        "/api/v1/faq",
        json={"question": f"Was ist die Chronik? {suffix}", "answer": "Doppelt."},
        headers=editor,
    )
    assert_problem(duplicate, 409)
    assert_problem(
        await client.post("/api/v1/faq", json={"question": "?", "answer": ""}, headers=editor), 422
    )
    assert await db.snapshot() == before

    updated = await client.patch(
        f"/api/v1/faq/{made[0]['id']}", json={"position": 5}, headers=editor
    )
    assert updated.json()["position"] == 5
    deleted = await client.delete(f"/api/v1/faq/{made[1]['id']}", headers=people.admin.headers)
    assert deleted.status_code == 204
    assert_problem(
        await client.get(f"/api/v1/faq/{made[1]['id']}", headers=people.staff.headers), 404
    )
    assert_problem(
        await client.delete(f"/api/v1/faq/{made[0]['id']}", headers=people.change_agent.headers),
        403,
    )
