"""The device registry: operators and admins manage, staff read, keys are hashed and rotatable."""

from __future__ import annotations

import hashlib

import httpx

from kommune.testing.service import Db, Personas, assert_problem

from .conftest import Api


async def test_operator_registers_a_thing_with_location_and_datastream(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    thing = await api.thing(published=True, properties={"lanes": 2.0, "pilot": True})
    assert thing["location"]["lat"] == 48.6783
    assert thing["published"] is True
    stream = await api.datastream(thing["id"], kind="fill_level")
    assert stream["thing_id"] == thing["id"]
    assert stream["kind"] == "fill_level"
    assert stream["latest"] is None
    assert stream["observation_count"] == 0

    for reader in (people.staff, people.caseworker, people.admin):
        got = await client.get(f"/api/v1/sensors/things/{thing['id']}", headers=reader.headers)
        assert got.status_code == 200
        assert got.json() == thing
    listed = await client.get(
        f"/api/v1/sensors/things/{thing['id']}/datastreams", headers=people.staff.headers
    )
    assert [s["id"] for s in listed.json()["items"]] == [stream["id"]]


async def test_admin_manages_too(client: httpx.AsyncClient, people: Personas) -> None:
    response = await client.post(
        "/api/v1/sensors/things", json={"name": "Schulhof Nord"}, headers=people.admin.headers
    )
    assert response.status_code == 201, response.text


async def test_things_list_pages_with_a_cursor(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    for _ in range(3):
        await api.thing()
    first = await client.get("/api/v1/sensors/things?limit=2", headers=people.staff.headers)
    body = first.json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    second = await client.get(
        "/api/v1/sensors/things",
        params={"limit": 2, "cursor": body["next_cursor"]},
        headers=people.staff.headers,
    )
    assert second.status_code == 200
    assert not {t["id"] for t in body["items"]} & {t["id"] for t in second.json()["items"]}


async def test_who_may_not_manage_or_read(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    thing = await api.thing()
    before = await db.counts("things", "datastreams", "device_keys")
    for person in (people.staff, people.caseworker, people.citizen, people.project_lead):
        response = await client.post(
            "/api/v1/sensors/things", json={"name": "x"}, headers=person.headers
        )
        assert_problem(response, 403)
        response = await client.post(
            f"/api/v1/sensors/things/{thing['id']}/keys", headers=person.headers
        )
        assert_problem(response, 403)
    assert_problem(await client.get("/api/v1/sensors/things", headers=people.citizen.headers), 403)
    assert_problem(await client.get("/api/v1/sensors/things"), 401)
    assert await db.counts("things", "datastreams", "device_keys") == before


async def test_bad_input_is_refused_and_changes_nothing(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    thing = await api.thing()
    before = await db.counts("things", "locations", "datastreams", "sensors")
    operator = people.operator.headers
    bad_things = [
        {"name": ""},
        {"name": "x", "location": {"name": "n", "lat": 91, "lon": 10}},
        {"name": "x", "unknown": 1},
        {"name": "x\u0000y"},
        {"name": "x", "properties": {f"k{i}": "v" for i in range(21)}},
    ]
    for body in bad_things:
        assert_problem(
            await client.post("/api/v1/sensors/things", json=body, headers=operator), 422
        )
    bad_stream = {"name": "x", "kind": "temperature", "unit": {}, "observed_property": {}}
    response = await client.post(
        f"/api/v1/sensors/things/{thing['id']}/datastreams", json=bad_stream, headers=operator
    )
    assert_problem(response, 422)
    response = await client.post(
        "/api/v1/sensors/things/999999999/datastreams",
        json={
            "name": "x",
            "kind": "count",
            "unit": {"name": "c", "symbol": "c", "definition": "d"},
            "observed_property": {"name": "p", "definition": "urn:p"},
            "sensor": {"name": "s"},
        },
        headers=operator,
    )
    assert_problem(response, 404)
    assert_problem(await client.get("/api/v1/sensors/things/0", headers=operator), 422)
    assert_problem(await client.get("/api/v1/sensors/datastreams/999999999", headers=operator), 404)
    assert await db.counts("things", "locations", "datastreams", "sensors") == before


async def test_keys_are_stored_hashed_listed_without_secret_rotated_and_revoked(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    thing = await api.thing()
    operator = people.operator.headers
    issued = (
        await client.post(f"/api/v1/sensors/things/{thing['id']}/keys", headers=operator)
    ).json()
    secret = issued["key"].split("_", 2)[2]
    stored = await db.scalar(
        "SELECT secret_sha256 FROM device_keys WHERE id = :id", id=issued["id"]
    )
    assert bytes(stored) == hashlib.sha256(secret.encode()).digest()
    assert secret.encode() not in bytes(stored)

    listed = (
        await client.get(f"/api/v1/sensors/things/{thing['id']}/keys", headers=operator)
    ).json()
    assert [k["id"] for k in listed] == [issued["id"]]
    assert "key" not in listed[0]

    rotated = await client.post(
        f"/api/v1/sensors/things/{thing['id']}/keys/{issued['id']}/rotate", headers=operator
    )
    assert rotated.status_code == 201
    assert rotated.json()["key"] != issued["key"]
    listed = (
        await client.get(f"/api/v1/sensors/things/{thing['id']}/keys", headers=operator)
    ).json()
    revoked = {k["id"]: k["revoked_at"] for k in listed}
    assert revoked[issued["id"]] is not None
    assert revoked[rotated.json()["id"]] is None

    again = await client.delete(
        f"/api/v1/sensors/things/{thing['id']}/keys/{issued['id']}", headers=operator
    )
    assert_problem(again, 409)
    other = await api.thing()
    wrong_thing = await client.delete(
        f"/api/v1/sensors/things/{other['id']}/keys/{rotated.json()['id']}", headers=operator
    )
    assert_problem(wrong_thing, 404)
    gone = await client.delete(
        f"/api/v1/sensors/things/{thing['id']}/keys/{rotated.json()['id']}", headers=operator
    )
    assert gone.status_code == 204
