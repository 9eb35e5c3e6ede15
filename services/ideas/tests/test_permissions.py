"""Who may do what, role by role, including every forbidden case.

The expected outcomes are written out here from the issue, not derived from the service's own
tables, so a wrong entry in ``access.py`` or ``workflow.py`` shows up as a failing test.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kommune.auth.principal import STAFF_ROLES as PLATFORM_STAFF_ROLES
from kommune.auth.principal import Principal
from kommune_ideas.access import POLICY, Permission

from .conftest import Api, Db, Personas, assert_problem, idea_body

STAFF_ROLES = ["staff", "caseworker", "change_agent", "project_lead", "admin"]
EVERYONE = [*STAFF_ROLES, "other_change_agent", "citizen"]


# ---- the idea store ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"), [*((role, 200) for role in STAFF_ROLES), ("citizen", 403)]
)
async def test_idea_store_is_open_to_every_staff_role_and_closed_to_citizens(
    api: Api, client: httpx.AsyncClient, people: Personas, persona: str, expected: int
) -> None:
    idea = await api.create_idea()
    await api.move(idea["id"], "in_progress", people.change_agent, note="Wir legen los.")
    headers = people.by_name(persona).headers
    for path in (
        "/api/v1/ideas",
        "/api/v1/ideas?q=Rechnungen",
        f"/api/v1/ideas/{idea['id']}",
        f"/api/v1/ideas/{idea['id']}/history",
        "/api/v1/departments",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == expected, (path, response.text)
    if expected == 200:
        detail = (await client.get(f"/api/v1/ideas/{idea['id']}", headers=headers)).json()
        assert detail["status"] == "in_progress"
        assert detail["answer"] == "Wir legen los."
    else:
        assert_problem(response, 403)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ideas",
        "/api/v1/meetings",
        "/api/v1/chronicle",
        "/api/v1/faq",
        "/api/v1/departments",
        f"/api/v1/ideas/{uuid.uuid4()}/comments",
    ],
)
async def test_no_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_citizen_gets_403_everywhere(
    api: Api, client: httpx.AsyncClient, people: Personas, department: dict[str, Any], db: Db
) -> None:
    idea = await api.create_idea()
    await api.move(idea["id"], "for_decision", people.change_agent)
    news = await client.post(
        "/api/v1/chronicle",
        json={"title": "Neuigkeit", "body": "Text"},
        headers=people.project_lead.headers,
    )
    entry_id = news.json()["id"]
    before = await db.snapshot(idea["id"])
    headers = people.citizen.headers
    idea_id = idea["id"]
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/v1/ideas", None),
        ("GET", "/api/v1/ideas?q=Rechnung", None),
        ("POST", "/api/v1/ideas", idea_body(department["id"])),
        ("GET", f"/api/v1/ideas/{idea_id}", None),
        ("PATCH", f"/api/v1/ideas/{idea_id}", {"title": "Übernommen"}),
        ("POST", f"/api/v1/ideas/{idea_id}/status", {"status": "in_progress", "note": "x"}),
        ("GET", f"/api/v1/ideas/{idea_id}/history", None),
        ("GET", f"/api/v1/ideas/{idea_id}/comments", None),
        ("POST", f"/api/v1/ideas/{idea_id}/comments", {"body": "Hallo"}),
        ("GET", f"/api/v1/ideas/{idea_id}/decision-comments", None),
        ("POST", f"/api/v1/ideas/{idea_id}/decision-comments", {"body": "Hallo"}),
        ("POST", f"/api/v1/ideas/{idea_id}/endorsement", None),
        ("DELETE", f"/api/v1/ideas/{idea_id}/endorsement", None),
        ("PUT", f"/api/v1/ideas/{idea_id}/follow", None),
        ("GET", "/api/v1/meetings", None),
        (
            "POST",
            "/api/v1/meetings",
            {"title": "Zirkel", "scheduled_at": "2030-01-01T10:00:00+01:00"},
        ),
        ("GET", "/api/v1/chronicle", None),
        ("GET", f"/api/v1/chronicle/{entry_id}", None),
        ("POST", "/api/v1/chronicle", {"title": "Neuigkeit", "body": "Text"}),
        ("GET", f"/api/v1/chronicle/{entry_id}/comments", None),
        ("POST", f"/api/v1/chronicle/{entry_id}/comments", {"body": "Hallo"}),
        ("GET", "/api/v1/faq", None),
        ("POST", "/api/v1/faq", {"question": "Was?", "answer": "Das."}),
        ("GET", "/api/v1/departments", None),
        ("POST", "/api/v1/departments", {"code": "neu", "name": "Neu"}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await db.snapshot(idea["id"]) == before


# ---- posting and editing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("change_agent", 201),
        ("admin", 201),
        ("staff", 403),
        ("caseworker", 403),
        ("project_lead", 403),
        ("citizen", 403),
    ],
)
async def test_only_change_agents_post_ideas(
    client: httpx.AsyncClient,
    people: Personas,
    department: dict[str, Any],
    db: Db,
    persona: str,
    expected: int,
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/ideas", json=idea_body(department["id"]), headers=people.by_name(persona).headers
    )
    assert response.status_code == expected, response.text
    if expected == 403:
        assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("change_agent", 200),  # the author
        ("admin", 200),
        ("other_change_agent", 403),
        ("staff", 403),
        ("project_lead", 403),
        ("citizen", 403),
    ],
)
async def test_only_the_author_edits(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, persona: str, expected: int
) -> None:
    idea = await api.create_idea()
    before = await db.snapshot(idea["id"])
    response = await client.patch(
        f"/api/v1/ideas/{idea['id']}",
        json={"title": "Rechnungen papierlos freigeben"},
        headers=people.by_name(persona).headers,
    )
    assert response.status_code == expected, response.text
    if expected == 200:
        assert response.json()["title"] == "Rechnungen papierlos freigeben"
        assert response.json()["editable"] is True
    else:
        assert_problem(response, expected)
        assert await db.snapshot(idea["id"]) == before


async def test_the_author_edits_only_while_the_status_is_idea(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    idea = await api.create_idea()
    await api.move(idea["id"], "in_progress", people.change_agent)
    detail = await client.get(f"/api/v1/ideas/{idea['id']}", headers=people.change_agent.headers)
    assert detail.json()["editable"] is False
    before = await db.snapshot(idea["id"])
    response = await client.patch(
        f"/api/v1/ideas/{idea['id']}",
        json={"title": "Zu spät"},
        headers=people.change_agent.headers,
    )
    body = assert_problem(response, 409)
    assert body["current_status"] == "in_progress"
    assert await db.snapshot(idea["id"]) == before


# ---- the status workflow -------------------------------------------------------------------

STATUSES = ["idea", "in_progress", "implemented", "rejected", "for_decision"]
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("idea", "in_progress"): {"author", "admin"},
    ("idea", "for_decision"): {"author", "admin"},
    ("in_progress", "implemented"): {"author", "admin"},
    ("in_progress", "rejected"): {"project_lead", "admin"},
    ("for_decision", "in_progress"): {"project_lead", "admin"},
    ("for_decision", "rejected"): {"project_lead", "admin"},
}
ACTORS = ["author", "other_change_agent", "project_lead", "admin", "staff", "citizen"]
WORKFLOW_ACTORS = {"author", "other_change_agent", "project_lead", "admin"}


def expected_status(source: str, target: str, actor: str) -> int:
    if actor not in WORKFLOW_ACTORS:
        return 403
    allowed = ALLOWED.get((source, target))
    if allowed is None:
        return 409
    return 200 if actor in allowed else 403


async def idea_in(api: Api, status: str) -> dict[str, Any]:
    people = api.people
    idea = await api.create_idea()
    steps = {
        "idea": [],
        "in_progress": [("in_progress", people.change_agent)],
        "for_decision": [("for_decision", people.change_agent)],
        "implemented": [
            ("in_progress", people.change_agent),
            ("implemented", people.change_agent),
        ],
        "rejected": [("for_decision", people.change_agent), ("rejected", people.project_lead)],
    }[status]
    for target, actor in steps:
        reason = "Zu teuer" if target == "rejected" else None
        await api.move(idea["id"], target, actor, reason=reason)
    return idea


@pytest.mark.parametrize("source", STATUSES)
async def test_every_transition_for_every_role(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, source: str
) -> None:
    for target in STATUSES:
        if target == source:
            continue
        for actor in ACTORS:
            idea = await idea_in(api, source)
            persona = people.change_agent if actor == "author" else people.by_name(actor)
            payload: dict[str, Any] = {"status": target, "note": "Offizielle Antwort"}
            if target == "rejected":
                payload["reason"] = "Kein Budget"
            before = await db.snapshot(idea["id"])
            response = await client.post(
                f"/api/v1/ideas/{idea['id']}/status", json=payload, headers=persona.headers
            )
            expected = expected_status(source, target, actor)
            assert response.status_code == expected, (source, target, actor, response.text)
            if expected == 200:
                body = response.json()
                assert body["status"] == target
                assert body["answer"] == "Offizielle Antwort"
            else:
                assert_problem(response, expected)
                assert await db.snapshot(idea["id"]) == before, (source, target, actor)


async def test_allowed_transitions_are_shown_per_viewer(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    idea = await idea_in(api, "for_decision")
    path = f"/api/v1/ideas/{idea['id']}"
    author_view = (await client.get(path, headers=people.change_agent.headers)).json()
    lead_view = (await client.get(path, headers=people.project_lead.headers)).json()
    assert author_view["allowed_transitions"] == []
    assert sorted(lead_view["allowed_transitions"]) == ["in_progress", "rejected"]
    decided = await idea_in(api, "in_progress")
    staff_view = (
        await client.get(f"/api/v1/ideas/{decided['id']}", headers=people.staff.headers)
    ).json()
    assert staff_view["allowed_transitions"] == []


# ---- the two forums ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("change_agent", True),
        ("other_change_agent", True),
        ("admin", True),
        ("staff", False),
        ("caseworker", False),
        ("project_lead", False),
        ("citizen", False),
    ],
)
async def test_change_agents_forum(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, persona: str, allowed: bool
) -> None:
    idea = await api.create_idea()
    path = f"/api/v1/ideas/{idea['id']}/comments"
    headers = people.by_name(persona).headers
    before = await db.snapshot(idea["id"])
    written = await client.post(path, json={"body": "Gute Idee!"}, headers=headers)
    read = await client.get(path, headers=headers)
    if allowed:
        assert written.status_code == 201, written.text
        assert written.json()["forum"] == "change_agents"
        assert read.status_code == 200
        assert [c["body"] for c in read.json()["items"]] == ["Gute Idee!"]
    else:
        assert_problem(written, 403)
        assert_problem(read, 403)
        assert await db.snapshot(idea["id"]) == before


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("project_lead", True),
        ("admin", True),
        ("change_agent", False),
        ("other_change_agent", False),
        ("staff", False),
        ("caseworker", False),
        ("citizen", False),
    ],
)
async def test_leaders_forum(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, persona: str, allowed: bool
) -> None:
    idea = await idea_in(api, "for_decision")
    path = f"/api/v1/ideas/{idea['id']}/decision-comments"
    headers = people.by_name(persona).headers
    before = await db.snapshot(idea["id"])
    written = await client.post(path, json={"body": "Budget prüfen."}, headers=headers)
    read = await client.get(path, headers=headers)
    if allowed:
        assert written.status_code == 201, written.text
        assert written.json()["forum"] == "leaders"
        assert [c["body"] for c in read.json()["items"]] == ["Budget prüfen."]
    else:
        assert_problem(written, 403)
        assert_problem(read, 403)
        assert await db.snapshot(idea["id"]) == before


@pytest.mark.parametrize("status", ["idea", "in_progress", "implemented", "rejected"])
async def test_leaders_write_only_while_the_idea_is_for_decision(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, status: str
) -> None:
    idea = await idea_in(api, status)
    before = await db.snapshot(idea["id"])
    response = await client.post(
        f"/api/v1/ideas/{idea['id']}/decision-comments",
        json={"body": "Zu spät"},
        headers=people.project_lead.headers,
    )
    assert_problem(response, 409)
    assert await db.snapshot(idea["id"]) == before


async def test_forum_counts_are_shown_only_to_their_readers(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    idea = await idea_in(api, "for_decision")
    base = f"/api/v1/ideas/{idea['id']}"
    await client.post(f"{base}/comments", json={"body": "CA"}, headers=people.change_agent.headers)
    await client.post(
        f"{base}/decision-comments", json={"body": "PL"}, headers=people.project_lead.headers
    )
    views = {
        name: (await client.get(base, headers=people.by_name(name).headers)).json()
        for name in ("change_agent", "project_lead", "admin")
    }
    assert (
        views["change_agent"]["comment_count"],
        views["change_agent"]["decision_comment_count"],
    ) == (1, None)
    assert (
        views["project_lead"]["comment_count"],
        views["project_lead"]["decision_comment_count"],
    ) == (None, 1)
    assert (views["admin"]["comment_count"], views["admin"]["decision_comment_count"]) == (1, 1)
    # Hidden forum activity does not move an idea up for viewers who cannot see it: the leaders
    # wrote last, which the change agents do not see.
    assert views["change_agent"]["last_activity_at"] < views["admin"]["last_activity_at"]
    assert views["project_lead"]["last_activity_at"] == views["admin"]["last_activity_at"]

    # Plain staff see neither forum's count once the idea is back in the store.
    await api.move(idea["id"], "in_progress", people.project_lead)
    staff_view = (await client.get(base, headers=people.staff.headers)).json()
    assert (staff_view["comment_count"], staff_view["decision_comment_count"]) == (None, None)


# ---- circles, chronicle, FAQ, departments, participation -----------------------------------


@pytest.mark.parametrize(
    ("persona", "read", "schedule"),
    [
        ("change_agent", 200, 201),
        ("admin", 200, 201),
        ("project_lead", 200, 403),
        ("staff", 403, 403),
        ("caseworker", 403, 403),
        ("citizen", 403, 403),
    ],
)
async def test_innovation_circles(
    client: httpx.AsyncClient, people: Personas, db: Db, persona: str, read: int, schedule: int
) -> None:
    headers = people.by_name(persona).headers
    assert (await client.get("/api/v1/meetings", headers=headers)).status_code == read
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/meetings",
        json={
            "title": "Innovationszirkel",
            "scheduled_at": "2031-02-03T14:00:00+01:00",
            "propose_agenda": False,
        },
        headers=headers,
    )
    assert response.status_code == schedule, response.text
    if schedule != 201:
        assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("persona", "read", "publish", "comment"),
    [
        ("staff", 200, 403, 201),
        ("caseworker", 200, 403, 201),
        ("change_agent", 200, 403, 201),
        ("project_lead", 200, 201, 201),
        ("admin", 200, 201, 201),
        ("citizen", 403, 403, 403),
    ],
)
async def test_chronicle(
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    persona: str,
    read: int,
    publish: int,
    comment: int,
) -> None:
    headers = people.by_name(persona).headers
    entry = (
        await client.post(
            "/api/v1/chronicle",
            json={"title": "E-Akte im Bauamt", "body": "Seit heute digital."},
            headers=people.project_lead.headers,
        )
    ).json()
    assert (await client.get("/api/v1/chronicle", headers=headers)).status_code == read
    assert (
        await client.get(f"/api/v1/chronicle/{entry['id']}", headers=headers)
    ).status_code == read
    before = await db.snapshot()
    published = await client.post(
        "/api/v1/chronicle", json={"title": "Neu", "body": "Text"}, headers=headers
    )
    assert published.status_code == publish, published.text
    if publish != 201:
        assert await db.snapshot() == before
    before = await db.snapshot()
    commented = await client.post(
        f"/api/v1/chronicle/{entry['id']}/comments", json={"body": "Super!"}, headers=headers
    )
    assert commented.status_code == comment, commented.text
    if comment != 201:
        assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("persona", "read", "edit"),
    [
        ("staff", 200, 403),
        ("change_agent", 200, 403),
        ("project_lead", 200, 201),
        ("admin", 200, 201),
        ("citizen", 403, 403),
    ],
)
async def test_faq(
    client: httpx.AsyncClient, people: Personas, db: Db, persona: str, read: int, edit: int
) -> None:
    headers = people.by_name(persona).headers
    assert (await client.get("/api/v1/faq", headers=headers)).status_code == read
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/faq",
        json={"question": f"Frage {uuid.uuid4().hex[:8]}?", "answer": "Antwort."},
        headers=headers,
    )
    assert response.status_code == edit, response.text
    if edit != 201:
        assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("persona", "read", "create"),
    [
        ("staff", 200, 403),
        ("change_agent", 200, 403),
        ("project_lead", 200, 403),
        ("admin", 200, 201),
        ("citizen", 403, 403),
    ],
)
async def test_departments(
    client: httpx.AsyncClient, people: Personas, db: Db, persona: str, read: int, create: int
) -> None:
    headers = people.by_name(persona).headers
    assert (await client.get("/api/v1/departments", headers=headers)).status_code == read
    before = await db.snapshot()
    suffix = uuid.uuid4().hex[:8]
    response = await client.post(
        "/api/v1/departments",
        json={"code": f"amt-{suffix}", "name": f"Amt {suffix}"},
        headers=headers,
    )
    assert response.status_code == create, response.text
    if create != 201:
        assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("persona", "allowed"), [*((role, True) for role in STAFF_ROLES), ("citizen", False)]
)
async def test_every_staff_member_endorses_and_follows(
    api: Api, client: httpx.AsyncClient, people: Personas, persona: str, allowed: bool
) -> None:
    idea = await api.create_idea()
    headers = people.by_name(persona).headers
    endorsed = await client.post(f"/api/v1/ideas/{idea['id']}/endorsement", headers=headers)
    followed = await client.put(f"/api/v1/ideas/{idea['id']}/follow", headers=headers)
    if allowed:
        assert endorsed.status_code == 201
        assert followed.status_code == 204
    else:
        assert_problem(endorsed, 403)
        assert_problem(followed, 403)


# ---- the matrix itself ------------------------------------------------------------------------


def test_the_permission_matrix_is_complete() -> None:
    """A row for every platform role, every permission granted to somebody (checked here, not
    by asserts at import); every staff role reads the idea store, nobody else does."""
    assert POLICY.problems() == []
    assert POLICY.holders(Permission.READ_STORE) == {str(role) for role in PLATFORM_STAFF_ROLES}
    assert POLICY.permissions_of(Principal(sub="x", roles=frozenset({"citizen"}))) == frozenset()
    inbox = Principal(sub="x", roles=frozenset({"invoice_inbox"}))  # a documents-only account
    assert POLICY.permissions_of(inbox) == frozenset()
    assert POLICY.permissions_of(Principal(sub="x", roles=frozenset({"superuser"}))) == frozenset()
