"""The file plan: the seeded municipal plan, maintained by records managers only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kommune.testing.service import Personas, assert_problem

from .conftest import DocDb, plan_unit_id


async def all_units(client: httpx.AsyncClient, people: Personas) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/fileplan", params=params, headers=people.staff.headers)
        ).json()
        units += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return units


async def test_the_seeded_plan_is_a_tree_with_retention_and_archive_decisions(
    client: httpx.AsyncClient, people: Personas
) -> None:
    units = {u["code"]: u for u in await all_units(client, people)}
    assert {"0", "0.4.1", "6.1", "6.2", "9.2.1"} <= set(units)
    assert units["6.1"]["title"] == "Bauleitplanung, Bebauungspläne"
    assert units["6.1"]["retention_years"] is None
    assert units["6.1"]["archive_decision"] == "A"
    assert units["9.2.1"]["retention_years"] == 10
    assert units["9.2.1"]["archive_decision"] == "V"
    assert units["9.2.1"]["parent_id"] == units["9.2"]["id"]
    assert units["0"]["parent_id"] is None
    children = (
        await client.get(
            "/api/v1/fileplan",
            params={"parent_id": units["6"]["id"]},
            headers=people.caseworker.headers,
        )
    ).json()["items"]
    assert [c["code"] for c in children] == ["6.1", "6.2", "6.3", "6.4"]


async def test_records_managers_add_and_change_units(
    client: httpx.AsyncClient, people: Personas
) -> None:
    parent = await plan_unit_id(client, people, "7")
    code = f"7.{uuid.uuid4().int % 9000 + 100}"
    body = {
        "parent_id": parent,
        "code": code,
        "title": "Friedhofswesen",
        "valid_from": "2026-01-01",
        "retention_years": 30,
        "archive_decision": "B",
    }
    created = await client.post(
        "/api/v1/fileplan", json=body, headers=people.records_manager.headers
    )
    assert created.status_code == 201, created.text
    unit = created.json()
    assert unit["code"] == code
    assert unit["parent_id"] == parent
    changed = await client.patch(
        f"/api/v1/fileplan/{unit['id']}",
        json={"retention_years": None, "archive_decision": "A"},
        headers=people.records_manager.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["retention_years"] is None
    assert changed.json()["archive_decision"] == "A"
    again = await client.post("/api/v1/fileplan", json=body, headers=people.admin.headers)
    assert_problem(again, 409)


async def test_only_records_managers_change_the_plan(
    client: httpx.AsyncClient, people: Personas, db: DocDb
) -> None:
    unit = await plan_unit_id(client, people, "6.2")
    before = await db.snapshot()
    body = {
        "code": "77",
        "title": "Neue Gruppe",
        "valid_from": "2026-01-01",
        "retention_years": 5,
        "archive_decision": "V",
    }
    for role in ("staff", "caseworker", "operator", "project_lead", "citizen"):
        headers = people.by_name(role).headers
        assert_problem(await client.post("/api/v1/fileplan", json=body, headers=headers), 403)
        patch = await client.patch(
            f"/api/v1/fileplan/{unit}", json={"title": "Umbenannt"}, headers=headers
        )
        assert_problem(patch, 403)
    assert await db.snapshot() == before


async def test_bad_plan_units_are_refused_and_change_nothing(
    client: httpx.AsyncClient, people: Personas, db: DocDb
) -> None:
    parent = await plan_unit_id(client, people, "6")
    good = {
        "parent_id": parent,
        "code": "6.9",
        "title": "Vermessung",
        "valid_from": "2026-01-01",
        "retention_years": 10,
        "archive_decision": "B",
    }
    before = await db.snapshot()
    bad_bodies = [
        {**good, "code": "7.9"},  # not under its parent
        {**good, "code": "6.9; DROP TABLE plan_units"},
        {**good, "code": "6..9"},
        {**good, "archive_decision": "X"},
        {**good, "retention_years": -1},
        {**good, "valid_until": "2025-01-01"},
        {**good, "parent_id": str(uuid.uuid4())},
        {**good, "title": "\x00"},
        {**good, "extra": 1},
        {key: value for key, value in good.items() if key != "title"},
        {**good, "parent_id": None},  # top level with a dot
    ]
    for body in bad_bodies:
        response = await client.post(
            "/api/v1/fileplan", json=body, headers=people.records_manager.headers
        )
        assert_problem(response, 422)
    assert_problem(
        await client.patch(
            f"/api/v1/fileplan/{parent}", json={}, headers=people.records_manager.headers
        ),
        422,
    )
    assert_problem(
        await client.get(f"/api/v1/fileplan/{uuid.uuid4()}", headers=people.staff.headers), 404
    )
    assert await db.snapshot() == before
