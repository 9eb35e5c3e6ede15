"""Waste containers: fill level, fill rate since the last emptying, prediction (the dashboard's
``GET /api/v1/waste/containers``), per role and with bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kommune.testing.service import Db, Personas, assert_problem

from .conftest import Api
from .readings import store_readings

URL = "/api/v1/waste/containers"


async def all_containers(
    client: httpx.AsyncClient, people: Personas, **params: Any
) -> dict[str, Any]:
    response = await client.get(URL, params={"limit": 500, **params}, headers=people.staff.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_fill_rate_since_the_last_emptying_and_prediction(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    filling = await api.thing(
        name="Unterflurbehälter Brenzpark",
        district="Mitte",
        location={"name": "Brenzpark", "lat": 48.6801, "lon": 10.1602},
    )
    full = await api.thing(name="Unterflurbehälter Rathaus", district="Innenstadt")
    filling_stream = (await api.datastream(filling["id"], kind="fill_level"))["id"]
    full_stream = (await api.datastream(full["id"], kind="fill_level"))["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    emptied = now - timedelta(days=2)
    # a full cycle before (rising 3 points a day), the emptying (70 -> 5), then 10 points a day
    before = [(filling_stream, emptied - timedelta(days=d), 70 - 3 * d) for d in range(1, 6)]
    after = [(filling_stream, emptied + timedelta(days=d), 5 + 10 * d) for d in range(3)]
    await store_readings(db, [*before, *after])
    await store_readings(db, [(full_stream, now - timedelta(hours=1), 91)])

    body = await all_containers(client, people)
    assert body["next_cursor"] is None
    assert body["total"] == len(body["items"])
    items = {item["thing_id"]: item for item in body["items"]}
    item = items[filling["id"]]
    assert item["name"] == "Unterflurbehälter Brenzpark"
    assert item["district"] == "Mitte"
    assert item["location"] == {"lat": 48.6801, "lon": 10.1602}
    assert item["fill_level"] == 25
    assert item["threshold"] == 80
    assert item["above_threshold"] is False
    assert item["fill_rate_per_day"] == pytest.approx(10.0)
    assert datetime.fromisoformat(item["last_emptied_at"]) == emptied
    observed = datetime.fromisoformat(item["observed_at"])
    assert observed == emptied + timedelta(days=2)
    assert datetime.fromisoformat(item["predicted_full_at"]) == observed + timedelta(days=7.5)
    assert items[full["id"]]["above_threshold"] is True
    assert items[full["id"]]["fill_rate_per_day"] is None  # one reading: no rate

    above = await all_containers(client, people, above_threshold="true")
    ids = {i["thing_id"] for i in above["items"]}
    assert full["id"] in ids
    assert filling["id"] not in ids
    assert above["total"] == len(above["items"])
    assert all(i["above_threshold"] for i in above["items"])


async def test_containers_are_paged_with_a_total(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    for _ in range(3):
        thing = await api.thing()
        await api.datastream(thing["id"], kind="fill_level")
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(URL, params=params, headers=people.caseworker.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["thing_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == body["total"]
    expected = await db.scalar("SELECT count(*) FROM datastreams WHERE kind = 'fill_level'")
    assert body["total"] == expected


async def test_containers_need_a_staff_token_and_valid_queries(
    client: httpx.AsyncClient, people: Personas
) -> None:
    assert_problem(await client.get(URL), 401)
    assert_problem(await client.get(URL, headers=people.citizen.headers), 403)
    assert_problem(await client.get(URL, headers=people.nobody.headers), 403)
    for params in (
        {"limit": 501},
        {"limit": 0},
        {"above_threshold": "maybe"},
        {"cursor": "not-a-cursor"},
    ):
        assert_problem(await client.get(URL, params=params, headers=people.staff.headers), 422)
    # a cursor is bound to its filter
    first = await client.get(URL, params={"limit": 1}, headers=people.staff.headers)
    cursor = first.json()["next_cursor"]
    if cursor is not None:
        other = await client.get(
            URL,
            params={"limit": 1, "cursor": cursor, "above_threshold": "true"},
            headers=people.staff.headers,
        )
        assert_problem(other, 422)
