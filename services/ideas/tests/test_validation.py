"""Bad input gets a clear 4xx problem and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import Api, Db, Personas, assert_problem, idea_body


def _without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != field}


BAD_IDEAS: list[tuple[str, Any]] = [
    ("missing title", lambda b: _without(b, "title")),
    ("missing problem statement", lambda b: _without(b, "problem_statement")),
    ("missing department", lambda b: _without(b, "department_id")),
    ("empty title", lambda b: {**b, "title": "   "}),
    ("title too long", lambda b: {**b, "title": "x" * 201}),
    ("description too long", lambda b: {**b, "description": "x" * 20_001}),
    ("extra field", lambda b: {**b, "status": "implemented"}),
    ("unknown field", lambda b: {**b, "priority": "hoch"}),
    ("department not a uuid", lambda b: {**b, "department_id": "kaemmerei"}),
    ("unknown department", lambda b: {**b, "department_id": str(uuid.uuid4())}),
    ("too many tags", lambda b: {**b, "tags": [f"tag{i}" for i in range(11)]}),
    ("tag with markup", lambda b: {**b, "tags": ["<script>"]}),
    ("title not a string", lambda b: {**b, "title": 42}),
]


@pytest.mark.parametrize(("case", "mutate"), BAD_IDEAS, ids=[case for case, _ in BAD_IDEAS])
async def test_bad_idea_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    people: Personas,
    department: dict[str, Any],
    db: Db,
    case: str,
    mutate: Any,
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/ideas",
        json=mutate(idea_body(department["id"])),
        headers=people.change_agent.headers,
    )
    body = assert_problem(response, 422)
    assert body["detail"]
    assert await db.snapshot() == before


async def test_body_that_is_not_json_is_422(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/ideas",
        content=b"{not json",
        headers={**people.change_agent.headers, "content-type": "application/json"},
    )
    assert_problem(response, 422)
    assert await db.snapshot() == before


async def test_oversized_body_is_413(client: httpx.AsyncClient, people: Personas, db: Db) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/ideas",
        content=b'{"title": "' + b"x" * 2_000_000 + b'"}',
        headers={**people.change_agent.headers, "content-type": "application/json"},
    )
    assert_problem(response, 413)
    assert await db.snapshot() == before


BAD_STATUS_CHANGES: list[tuple[str, dict[str, Any], int]] = [
    ("unknown status", {"status": "done", "note": "Fertig"}, 422),
    ("german label instead of value", {"status": "Umgesetzt", "note": "Fertig"}, 422),
    ("missing note", {"status": "in_progress"}, 422),
    ("empty note", {"status": "in_progress", "note": " "}, 422),
    ("note too long", {"status": "in_progress", "note": "x" * 5001}, 422),
    ("extra field", {"status": "in_progress", "note": "Los", "by": "someone"}, 422),
    ("reason without rejection", {"status": "in_progress", "note": "Los", "reason": "Weil"}, 422),
    ("not a transition", {"status": "implemented", "note": "Schon fertig"}, 409),
]


@pytest.mark.parametrize(
    ("case", "payload", "expected"),
    BAD_STATUS_CHANGES,
    ids=[case for case, _, _ in BAD_STATUS_CHANGES],
)
async def test_bad_status_change_changes_nothing(
    api: Api,
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    case: str,
    payload: dict[str, Any],
    expected: int,
) -> None:
    idea = await api.create_idea()
    before = await db.snapshot(idea["id"])
    response = await client.post(
        f"/api/v1/ideas/{idea['id']}/status", json=payload, headers=people.change_agent.headers
    )
    body = assert_problem(response, expected)
    if expected == 409:
        assert body["current_status"] == "idea"
        assert sorted(body["allowed_targets"]) == ["for_decision", "in_progress"]
    assert await db.snapshot(idea["id"]) == before


async def test_rejection_without_reason_is_422_and_changes_nothing(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    idea = await api.create_idea()
    await api.move(idea["id"], "for_decision", people.change_agent)
    before = await db.snapshot(idea["id"])
    for payload in (
        {"status": "rejected", "note": "Nein"},
        {"status": "rejected", "note": "Nein", "reason": None},
        {"status": "rejected", "note": "Nein", "reason": "  "},
    ):
        response = await client.post(
            f"/api/v1/ideas/{idea['id']}/status", json=payload, headers=people.project_lead.headers
        )
        assert_problem(response, 422)
    assert await db.snapshot(idea["id"]) == before
    done = await api.move(
        idea["id"], "rejected", people.project_lead, note="Nein", reason="Kein Budget 2026"
    )
    assert done.json()["rejection_reason"] == "Kein Budget 2026"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ideas/not-a-uuid",
        "/api/v1/ideas/123/history",
        "/api/v1/ideas/zzz/comments",
        "/api/v1/meetings/nope",
        "/api/v1/chronicle/1",
        "/api/v1/faq/x",
    ],
)
async def test_invalid_uuid_in_path_is_422(
    client: httpx.AsyncClient, people: Personas, path: str
) -> None:
    assert_problem(await client.get(path, headers=people.admin.headers), 422)


async def test_unknown_ids_are_404(client: httpx.AsyncClient, people: Personas, db: Db) -> None:
    missing = uuid.uuid4()
    before = await db.snapshot()
    for method, path, body in [
        ("GET", f"/api/v1/ideas/{missing}", None),
        ("PATCH", f"/api/v1/ideas/{missing}", {"title": "Neu!"}),
        ("POST", f"/api/v1/ideas/{missing}/status", {"status": "in_progress", "note": "x"}),
        ("POST", f"/api/v1/ideas/{missing}/comments", {"body": "Hallo"}),
        ("POST", f"/api/v1/ideas/{missing}/endorsement", None),
        ("GET", f"/api/v1/meetings/{missing}", None),
        ("GET", f"/api/v1/chronicle/{missing}", None),
    ]:
        response = await client.request(method, path, json=body, headers=people.admin.headers)
        assert_problem(response, 404)
    assert await db.snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "sort=oldest",
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=not-a-cursor",
        "cursor=eyJvIjoibmV3ZXN0In0",  # base64 JSON, but not one of ours
        "department_id=kaemmerei",
        "q=x",  # shorter than two characters
        "sort=relevance",  # relevance needs q
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, people: Personas, query: str
) -> None:
    response = await client.get(f"/api/v1/ideas?{query}", headers=people.staff.headers)
    assert_problem(response, 422)


async def test_cursor_of_another_sort_or_filter_is_422(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    for _ in range(3):
        await api.create_idea()
    first = await client.get("/api/v1/ideas?limit=1&sort=newest", headers=people.staff.headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    for query in (f"sort=most_endorsed&cursor={cursor}", f"status=idea&cursor={cursor}"):
        response = await client.get(f"/api/v1/ideas?limit=1&{query}", headers=people.staff.headers)
        body = assert_problem(response, 422)
        assert "cursor" in body["detail"]
    # Tampering with a valid cursor is caught too.
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = await client.get(
        f"/api/v1/ideas?limit=1&cursor={tampered}", headers=people.staff.headers
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"body": ""},
        {"body": "x" * 10_001},
        {"body": "Hallo", "parent_id": "nope"},
        {"body": "Hallo", "forum": "leaders"},
    ],
)
async def test_bad_comment_is_422_and_changes_nothing(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, payload: dict[str, Any]
) -> None:
    idea = await api.create_idea()
    before = await db.snapshot(idea["id"])
    response = await client.post(
        f"/api/v1/ideas/{idea['id']}/comments", json=payload, headers=people.change_agent.headers
    )
    assert_problem(response, 422)
    assert await db.snapshot(idea["id"]) == before


async def test_replies_take_no_replies_and_stay_in_their_thread(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    idea = await api.create_idea()
    other = await api.create_idea()
    path = f"/api/v1/ideas/{idea['id']}/comments"
    headers = people.change_agent.headers
    top = (await client.post(path, json={"body": "Frage"}, headers=headers)).json()
    reply = await client.post(
        path, json={"body": "Antwort", "parent_id": top["id"]}, headers=headers
    )
    assert reply.status_code == 201
    before = await db.snapshot(idea["id"])
    nested = await client.post(
        path, json={"body": "Noch tiefer", "parent_id": reply.json()["id"]}, headers=headers
    )
    assert_problem(nested, 422)
    elsewhere = await client.post(
        f"/api/v1/ideas/{other['id']}/comments",
        json={"body": "Falscher Faden", "parent_id": top["id"]},
        headers=headers,
    )
    assert_problem(elsewhere, 422)
    assert await db.snapshot(idea["id"]) == before
    listed = (await client.get(path, headers=headers)).json()["items"]
    assert [(c["body"], [r["body"] for r in c["replies"]]) for c in listed] == [
        ("Frage", ["Antwort"])
    ]


async def test_empty_or_null_update_is_422(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    idea = await api.create_idea()
    before = await db.snapshot(idea["id"])
    for payload in ({}, {"title": None}, {"tags": None}, {"status": "implemented"}):
        response = await client.patch(
            f"/api/v1/ideas/{idea['id']}", json=payload, headers=people.change_agent.headers
        )
        assert_problem(response, 422)
    assert await db.snapshot(idea["id"]) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "Zirkel", "scheduled_at": "2031-02-03T14:00:00"},  # no offset
        {"title": "Zirkel", "scheduled_at": "morgen"},
        {"title": "Zirkel"},
        {"title": "Z", "scheduled_at": "2031-02-03T14:00:00+01:00"},
        {"title": "Zirkel", "scheduled_at": "2031-02-03T14:00:00+01:00", "room": "3.12"},
        {
            "title": "Zirkel",
            "scheduled_at": "2031-02-03T14:00:00+01:00",
            "participants": [{"user_id": ""}],
        },
    ],
)
async def test_bad_meeting_is_422_and_changes_nothing(
    client: httpx.AsyncClient, people: Personas, db: Db, payload: dict[str, Any]
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/meetings", json=payload, headers=people.change_agent.headers
    )
    assert_problem(response, 422)
    assert await db.snapshot() == before
