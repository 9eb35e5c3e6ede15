"""Cursor pagination: every row exactly once, stable while rows are added, for every sort."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import Api, Personas


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
