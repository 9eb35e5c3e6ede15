"""Cursor pagination: every row exactly once, stable while rows are added, for every sort;
cursors are signed, so only what the service issued comes back."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any

import httpx
import pytest

from kommune.pagination import CursorSigner
from kommune_ideas.settings import IdeasSettings

from .conftest import Api, Db, Personas, assert_problem


async def collect(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, limit: int
) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        url = f"/api/v1/ideas?{query}&limit={limit}"
        if cursor:
            url += f"&cursor={cursor}"
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


@pytest.fixture
async def tagged(api: Api, people: Personas, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    tag = "pg" + uuid.uuid4().hex[:8]
    ids = []
    for i in range(23):
        idea = await api.create_idea(title=f"Idee Nummer {i:02d}", tags=[tag])
        ids.append(idea["id"])
    # Some endorsements, with ties, so "most endorsed" has equal keys to page through.
    endorsers = [people.staff, people.caseworker, people.project_lead]
    for i, idea_id in enumerate(ids):
        for person in endorsers[: i % 3]:
            response = await client.post(
                f"/api/v1/ideas/{idea_id}/endorsement", headers=person.headers
            )
            assert response.status_code == 201
    return tag, ids


@pytest.mark.parametrize("sort", ["newest", "most_endorsed", "recently_active"])
@pytest.mark.parametrize("limit", [1, 5, 100])
async def test_pages_hold_every_row_once(
    client: httpx.AsyncClient,
    people: Personas,
    tagged: tuple[str, list[str]],
    sort: str,
    limit: int,
) -> None:
    tag, ids = tagged
    found, pages = await collect(client, people.staff.headers, f"tag={tag}&sort={sort}", limit)
    assert sorted(found) == sorted(ids)
    assert len(found) == len(set(found))
    assert pages == -(-len(ids) // limit)  # no empty last page


async def test_newest_first_order(
    client: httpx.AsyncClient, people: Personas, tagged: tuple[str, list[str]]
) -> None:
    tag, ids = tagged
    found, _ = await collect(client, people.staff.headers, f"tag={tag}", 4)
    assert found == list(reversed(ids))


async def test_most_endorsed_order(
    client: httpx.AsyncClient, people: Personas, tagged: tuple[str, list[str]]
) -> None:
    tag, _ = tagged
    response = await client.get(
        f"/api/v1/ideas?tag={tag}&sort=most_endorsed&limit=100", headers=people.staff.headers
    )
    counts = [item["endorsement_count"] for item in response.json()["items"]]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 2


async def test_pages_stay_stable_while_ideas_are_added(
    api: Api, client: httpx.AsyncClient, people: Personas, tagged: tuple[str, list[str]]
) -> None:
    tag, ids = tagged
    headers = people.staff.headers
    first = (await client.get(f"/api/v1/ideas?tag={tag}&limit=10", headers=headers)).json()
    # New ideas arrive between two page requests: they sort before the cursor (newest first),
    # so the following pages neither repeat nor skip anything.
    for _ in range(3):
        await api.create_idea(tags=[tag])
    seen = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (
            await client.get(f"/api/v1/ideas?tag={tag}&limit=10&cursor={cursor}", headers=headers)
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))


async def test_other_lists_paginate_too(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    idea = await api.create_idea()
    path = f"/api/v1/ideas/{idea['id']}/comments"
    for i in range(7):
        await client.post(path, json={"body": f"Beitrag {i}"}, headers=people.change_agent.headers)
    bodies: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=params, headers=people.change_agent.headers)).json()
        bodies += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert bodies == [f"Beitrag {i}" for i in range(7)]
    for list_path in (
        "/api/v1/chronicle",
        "/api/v1/faq",
        "/api/v1/departments",
        "/api/v1/meetings",
    ):
        response = await client.get(f"{list_path}?limit=1", headers=people.admin.headers)
        assert response.status_code == 200, list_path
        assert set(response.json()) == {"items", "next_cursor"}
        bad = await client.get(f"{list_path}?cursor=garbage", headers=people.admin.headers)
        assert bad.status_code == 422, list_path


# ---- signed cursors (issue 7 item 2): a client can only send back what the service made ------


def _body(cursor: str) -> dict[str, Any]:
    body_part = cursor.partition(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body_part + "=" * 4))
    return decoded


def _forge(body: dict[str, Any], signer: CursorSigner) -> str:
    return signer.sign(json.dumps(body, separators=(",", ":")).encode())


def _assert_cursor_refused(response: httpx.Response) -> None:
    body = assert_problem(response, 422)
    assert body["field"] == "cursor", body


async def _first_page_cursor(client: httpx.AsyncClient, people: Personas, query: str) -> str:
    response = await client.get(f"/api/v1/ideas?limit=1&{query}", headers=people.staff.headers)
    assert response.status_code == 200, response.text
    cursor: str = response.json()["next_cursor"]
    assert cursor
    return cursor


async def _tagged_page(
    client: httpx.AsyncClient, people: Personas, tag: str, cursor: str
) -> httpx.Response:
    params: dict[str, str | int] = {"limit": 1, "tag": tag, "cursor": cursor}
    return await client.get("/api/v1/ideas", params=params, headers=people.staff.headers)


async def test_a_cursor_signed_with_another_key_is_refused(
    tagged: tuple[str, list[str]],
    client: httpx.AsyncClient,
    people: Personas,
    settings: IdeasSettings,
    db: Db,
) -> None:
    tag, _ = tagged
    genuine = await _first_page_cursor(client, people, f"tag={tag}")
    # The same body, well-formed, but signed by somebody who does not have the deployment's key
    # (or by another service with it).
    for signer in (
        CursorSigner(secrets.token_bytes(32), settings.service_name),
        CursorSigner(settings.cursor_key, "documents"),
    ):
        forged = _forge(_body(genuine), signer)
        assert forged != genuine
        before = await db.snapshot()
        _assert_cursor_refused(await _tagged_page(client, people, tag, forged))
        assert await db.snapshot() == before
    # The genuine one still works.
    response = await _tagged_page(client, people, tag, genuine)
    assert response.status_code == 200, response.text


async def test_an_edited_cursor_is_refused(
    tagged: tuple[str, list[str]], client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    tag, _ = tagged
    genuine = await _first_page_cursor(client, people, f"tag={tag}")
    body_part, _, mac_part = genuine.partition(".")
    body = _body(genuine)
    body["k"][0] = "2000-01-01T00:00:00+00:00"  # jump back in time: another page than we issued
    edited_body = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    before = await db.snapshot()
    for cursor in (
        f"{edited_body}.{mac_part}",  # new body, old signature
        f"{body_part}.{mac_part[:-4]}AAAA",  # old body, edited signature
        body_part,  # no signature at all
        f"{body_part}.",
    ):
        _assert_cursor_refused(await _tagged_page(client, people, tag, cursor))
    assert await db.snapshot() == before


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("sort=most_endorsed", 2**31),  # endorsement_count is an integer column
        ("sort=most_endorsed", -(2**63)),
        ("sort=newest", "0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        ("sort=newest", "9999-12-31T23:59:59-14:00"),  # after year 9999 in UTC
        ("sort=newest", "2026-01-01T00:00:00"),  # no offset
        ("sort=most_endorsed", float("nan")),
    ],
)
async def test_a_signed_cursor_with_values_the_columns_cannot_hold_is_refused(
    tagged: tuple[str, list[str]],
    client: httpx.AsyncClient,
    people: Personas,
    settings: IdeasSettings,
    db: Db,
    query: str,
    value: Any,
) -> None:
    """Even with the deployment's key (leaked, or a bug), a cursor never reaches the database
    with a value its column cannot take: 422, not a 500 from PostgreSQL."""
    tag, _ = tagged
    genuine = await _first_page_cursor(client, people, f"{query}&tag={tag}")
    signer = CursorSigner(settings.cursor_key, settings.service_name)
    params: dict[str, Any] = {"limit": 1, "tag": tag, "sort": query.partition("=")[2]}
    # Control: the body as issued, signed here with the deployment's key, is accepted.
    resigned = _forge(_body(genuine), signer)
    control = await client.get(
        "/api/v1/ideas", params={**params, "cursor": resigned}, headers=people.staff.headers
    )
    assert control.status_code == 200, control.text
    body = _body(genuine)
    body["k"][0] = value
    cursor = _forge(body, signer)
    before = await db.snapshot()
    response = await client.get(
        "/api/v1/ideas",
        params={"limit": 1, "tag": tag, "sort": query.partition("=")[2], "cursor": cursor},
        headers=people.staff.headers,
    )
    _assert_cursor_refused(response)
    assert await db.snapshot() == before


async def test_a_signed_text_cursor_with_nul_or_surrogates_is_refused(
    api: Api, client: httpx.AsyncClient, people: Personas, settings: IdeasSettings, db: Db
) -> None:
    """Departments sort by name (a text column): NUL, a lone surrogate or more than the
    column holds never get to PostgreSQL."""
    for _ in range(2):
        await client.post(
            "/api/v1/departments",
            json={"code": f"d-{uuid.uuid4().hex[:8]}", "name": f"Amt {uuid.uuid4().hex[:8]}"},
            headers=people.admin.headers,
        )
    first = await client.get("/api/v1/departments?limit=1", headers=people.staff.headers)
    genuine = first.json()["next_cursor"]
    assert genuine
    signer = CursorSigner(settings.cursor_key, settings.service_name)
    before = await db.snapshot()
    for name in ("Amt\x00Nul", "Amt \ud800", "A" * 121):
        body = _body(genuine)
        body["k"][0] = name
        response = await client.get(
            "/api/v1/departments",
            params={"limit": 1, "cursor": _forge(body, signer)},
            headers=people.staff.headers,
        )
        _assert_cursor_refused(response)
    assert await db.snapshot() == before
