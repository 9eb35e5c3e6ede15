"""SensorThings updates (PATCH, PUT) and deletes: answers, refusals, cascades, derived values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kommune.testing.service import Db, Personas, assert_problem

STA = "/sta/v1.1"


def new_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(urlsplit(response.headers["Location"]).path.rsplit("(", 1)[1].rstrip(")"))


async def make_thing(client: httpx.AsyncClient, operator: dict[str, str]) -> dict[str, int]:
    """A thing with a location and a datastream (deep-inserted sensor and observed property)."""
    tag = uuid.uuid4().hex[:8]
    thing = {
        "name": f"Unterflurbehälter {tag}",
        "description": "Glas",
        "properties": {"pilot": "waste"},
        "Locations": [
            {
                "name": "Schlossarkaden",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [10.155, 48.679]},
            }
        ],
    }
    thing_id = new_id(await client.post(f"{STA}/Things", json=thing, headers=operator))
    stream = {
        "name": "Füllstand",
        "unitOfMeasurement": {"name": "percent", "symbol": "%", "definition": "urn:percent"},
        "properties": {"kind": "fill_level"},
        "Thing": {"@iot.id": thing_id},
        "Sensor": {"name": "Ultraschall", "encodingType": "text/plain"},
        "ObservedProperty": {"name": "Fill level", "definition": f"urn:kommune:fill:{tag}"},
    }
    stream_id = new_id(await client.post(f"{STA}/Datastreams", json=stream, headers=operator))
    refs = {"thing": thing_id, "datastream": stream_id}
    for nav, key in (("Sensor", "sensor"), ("ObservedProperty", "observed_property")):
        got = await client.get(f"{STA}/Datastreams({stream_id})/{nav}", headers=operator)
        refs[key] = got.json()["@iot.id"]
    got = await client.get(f"{STA}/Things({thing_id})/Locations", headers=operator)
    refs["location"] = got.json()["value"][0]["@iot.id"]
    return refs


async def observe(
    client: httpx.AsyncClient, operator: dict[str, str], stream_id: int, rows: list[list[Any]]
) -> list[int]:
    body = [
        {
            "Datastream": {"@iot.id": stream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
    ]
    response = await client.post(f"{STA}/CreateObservations", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return [int(link.rsplit("(", 1)[1].rstrip(")")) for link in response.json()]


async def test_patch_changes_only_what_is_sent_and_put_replaces(
    client: httpx.AsyncClient, people: Personas
) -> None:
    operator = people.operator.headers
    refs = await make_thing(client, operator)
    thing = f"{STA}/Things({refs['thing']})"

    patched = await client.patch(thing, json={"name": "Behälter Rathaus"}, headers=operator)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Behälter Rathaus"
    assert patched.json()["description"] == "Glas"
    assert patched.json()["properties"] == {"pilot": "waste"}

    replaced = await client.put(
        thing,
        json={"@iot.id": refs["thing"], "name": "Behälter Rathaus", "@iot.selfLink": "x"},
        headers=operator,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["description"] == ""  # PUT: what is not sent takes its default
    assert replaced.json()["properties"] == {}
    assert (await client.get(thing, headers=operator)).json()["name"] == "Behälter Rathaus"

    location = f"{STA}/Locations({refs['location']})"
    moved = {"location": {"type": "Point", "coordinates": [10.16, 48.68]}}
    assert (await client.patch(location, json=moved, headers=operator)).status_code == 200
    got = (await client.get(location, headers=operator)).json()
    assert got["location"]["coordinates"] == [10.16, 48.68]
    assert got["name"] == "Schlossarkaden"

    sensor = f"{STA}/Sensors({refs['sensor']})"
    response = await client.patch(
        sensor, json={"metadata": "https://x.test/s.pdf"}, headers=operator
    )
    assert response.json()["metadata"] == "https://x.test/s.pdf"
    prop = f"{STA}/ObservedProperties({refs['observed_property']})"
    taken = (await client.get(f"{prop}", headers=operator)).json()["definition"]
    other_prop = (await make_thing(client, operator))["observed_property"]
    response = await client.patch(
        f"{STA}/ObservedProperties({other_prop})", json={"definition": taken}, headers=operator
    )
    assert_problem(response, 409)  # definitions are unique: the observed property is reused
    response = await client.patch(prop, json={"description": "Prozent"}, headers=operator)
    assert response.json()["description"] == "Prozent"

    stream = f"{STA}/Datastreams({refs['datastream']})"
    full = {
        "name": "Füllstand Glas",
        "unitOfMeasurement": {"name": "percent", "symbol": "%", "definition": "urn:percent"},
        "properties": {"kind": "fill_level"},
        "phenomenonTime": "2026-01-01T00:00:00Z/2026-01-02T00:00:00Z",  # derived: ignored
    }
    response = await client.put(stream, json=full, headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Füllstand Glas"
    assert response.json()["description"] == ""

    # Relinking: the thing's locations by @iot.id, the datastream's thing.
    other = await make_thing(client, operator)
    response = await client.patch(
        thing, json={"Locations": [{"@iot.id": other["location"]}]}, headers=operator
    )
    assert response.status_code == 200, response.text
    linked = (await client.get(f"{thing}/Locations", headers=operator)).json()["value"]
    assert [item["@iot.id"] for item in linked] == [other["location"]]
    response = await client.patch(
        stream, json={"Thing": {"@iot.id": other["thing"]}}, headers=operator
    )
    assert response.status_code == 200, response.text
    owner = (await client.get(f"{stream}/Thing", headers=operator)).json()
    assert owner["@iot.id"] == other["thing"]


BAD_UPDATES: list[tuple[str, Any]] = [
    ("Things", {"colour": "blue"}),  # unknown property
    ("Things", {"name": 5}),  # wrong type
    ("Things", {"name": ""}),
    ("Things", {"@iot.id": 1}),  # a different id
    ("Things", {"properties": {"nested": {"a": 1}}}),
    ("Things", {"Datastreams": [{"name": "deep"}]}),  # no deep updates
    ("Things", {"Locations": [{"name": "new, no id"}]}),
    ("Things", {"Locations": [{"@iot.id": 987654321}]}),  # no such location
    ("Things", [{"name": "an array"}]),
    ("Locations", {"location": {"type": "Point", "coordinates": [10.0, 95.0]}}),
    ("Locations", {"location": {"type": "Polygon", "coordinates": []}}),
    ("Datastreams", {"properties": {"kind": "count"}}),  # the kind decides valid results
    ("Datastreams", {"unitOfMeasurement": "percent"}),
    ("Datastreams", {"Thing": {"@iot.id": 987654321}}),
    ("Datastreams", {"Sensor": {"@iot.id": "1"}}),
    ("Datastreams", {"Observations": []}),
    ("Sensors", {"encodingType": None}),
    ("Sensors", {"properties": {"x": 1}}),  # STA member the service does not keep
]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_bad_update_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, people: Personas, db: Db, method: str
) -> None:
    operator = people.operator.headers
    refs = await make_thing(client, operator)
    ids = {
        "Things": refs["thing"],
        "Locations": refs["location"],
        "Datastreams": refs["datastream"],
        "Sensors": refs["sensor"],
    }
    before = {
        name: (await client.get(f"{STA}/{name}({i})", headers=operator)).json()
        for name, i in ids.items()
    }
    links = await db.counts("thing_locations")
    for entity_set, body in BAD_UPDATES:
        url = f"{STA}/{entity_set}({ids[entity_set]})"
        if method == "PUT" and isinstance(body, dict):
            body = {**before[entity_set], **body}  # a whole entity with one bad member
        response = await client.request(method, url, json=body, headers=operator)
        assert_problem(response, 400)
    # A PUT without a required member, a body that is not JSON.
    assert_problem(
        await client.put(
            f"{STA}/Things({ids['Things']})", json={"description": "x"}, headers=operator
        ),
        400,
    )
    assert_problem(
        await client.request(
            method,
            f"{STA}/Things({ids['Things']})",
            content=b"{nope",
            headers={**operator, "Content-Type": "application/json"},
        ),
        400,
    )
    after = {
        name: (await client.get(f"{STA}/{name}({i})", headers=operator)).json()
        for name, i in ids.items()
    }
    assert after == before
    assert await db.counts("thing_locations") == links


async def test_missing_ids_unknown_sets_and_collections(
    client: httpx.AsyncClient, people: Personas
) -> None:
    operator = people.operator.headers
    for name in (
        "Things",
        "Locations",
        "Datastreams",
        "Sensors",
        "ObservedProperties",
        "Observations",
        "FeaturesOfInterest",
        "HistoricalLocations",
    ):
        url = f"{STA}/{name}(987654321)"
        assert_problem(await client.patch(url, json={"name": "x"}, headers=operator), 404)
        assert_problem(await client.put(url, json={"name": "x"}, headers=operator), 404)
        assert_problem(await client.delete(url, headers=operator), 404)
    assert_problem(await client.patch(f"{STA}/Nothing(1)", json={}, headers=operator), 404)
    assert_problem(await client.delete(f"{STA}/Things", headers=operator), 405)
    assert_problem(
        await client.patch(f"{STA}/Things(1)/Datastreams", json={}, headers=operator), 405
    )


async def test_only_operators_and_admins_update_and_delete(
    client: httpx.AsyncClient, people: Personas
) -> None:
    refs = await make_thing(client, people.operator.headers)
    thing = f"{STA}/Things({refs['thing']})"
    for headers, status in (
        (None, 401),
        (people.staff.headers, 403),
        (people.caseworker.headers, 403),
        (people.citizen.headers, 403),
    ):
        assert_problem(await client.patch(thing, json={"name": "x"}, headers=headers), status)
        assert_problem(await client.put(thing, json={"name": "x"}, headers=headers), status)
        assert_problem(await client.delete(thing, headers=headers), status)
    assert (
        (await client.get(thing, headers=people.staff.headers))
        .json()["name"]
        .startswith("Unterflurbehälter")
    )
    response = await client.patch(
        thing, json={"name": "Admin war hier"}, headers=people.admin.headers
    )
    assert response.status_code == 200


async def test_observation_updates_keep_counts_latest_and_rollups_true(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    operator = people.operator.headers
    refs = await make_thing(client, operator)
    stream_id = refs["datastream"]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    t = [hour + timedelta(minutes=m) for m in (5, 10, 20)]
    first, second, third = await observe(
        client,
        operator,
        stream_id,
        [[x.isoformat(), v] for x, v in zip(t, (10, 20, 30), strict=True)],
    )

    async def state() -> dict[str, Any]:
        buckets = await db.rows(
            "SELECT count, sum, min, max FROM observations_hourly "
            "WHERE datastream_id = :d AND bucket = :b",
            d=stream_id,
            b=hour,
        )
        bucket = buckets[0] if buckets else None
        [stream] = await db.rows(
            "SELECT observation_count, latest_result, latest_phenomenon_time FROM datastreams "
            "WHERE id = :d",
            d=stream_id,
        )
        return {"bucket": bucket, **stream}

    response = await client.patch(
        f"{STA}/Observations({second})", json={"result": 95}, headers=operator
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"] == 95
    assert response.json()["@iot.id"] == second
    got = await state()
    assert got["bucket"] == {"count": 3, "sum": 135.0, "min": 10.0, "max": 95.0}
    assert got["observation_count"] == 3
    assert got["latest_result"] == 30.0

    # Moving the third reading an hour later: two buckets and the latest value follow.
    later = t[2] + timedelta(hours=1)
    response = await client.put(
        f"{STA}/Observations({third})",
        json={
            "phenomenonTime": later.isoformat(),
            "result": 33,
            "Datastream": {"@iot.id": stream_id},
        },
        headers=operator,
    )
    assert response.status_code == 200, response.text
    got = await state()
    assert got["bucket"] == {"count": 2, "sum": 105.0, "min": 10.0, "max": 95.0}
    assert got["latest_result"] == 33.0
    assert got["latest_phenomenon_time"] == later
    daily = await db.scalar(
        "SELECT sum(count) FROM observations_daily WHERE datastream_id = :d", d=stream_id
    )
    assert daily == 3

    # Refusals change nothing: onto another reading's time (409), a MAC address (422), a fill
    # level above 100 % (400), a resultTime the service does not keep (400).
    before = await state()
    assert_problem(
        await client.patch(
            f"{STA}/Observations({first})",
            json={"phenomenonTime": t[1].isoformat()},
            headers=operator,
        ),
        409,
    )
    mac = {"parameters": {"ap": "a4:5e:60:e8:1f:0b"}}
    assert_problem(
        await client.patch(f"{STA}/Observations({first})", json=mac, headers=operator), 422
    )
    assert_problem(
        await client.patch(f"{STA}/Observations({first})", json={"result": 140}, headers=operator),
        400,
    )
    assert_problem(
        await client.patch(
            f"{STA}/Observations({first})", json={"resultTime": t[0].isoformat()}, headers=operator
        ),
        400,
    )
    assert await state() == before
    assert (
        await db.scalar("SELECT count(*) FROM observations WHERE parameters::text LIKE '%a4:5e%'")
        == 0
    )

    deleted = await client.delete(f"{STA}/Observations({second})", headers=operator)
    assert deleted.status_code == 200
    got = await state()
    assert got["bucket"] == {"count": 1, "sum": 10.0, "min": 10.0, "max": 10.0}
    assert got["observation_count"] == 2
    assert_problem(await client.get(f"{STA}/Observations({second})", headers=operator), 404)
    count = (
        await client.get(
            f"{STA}/Datastreams({stream_id})/Observations?$count=true", headers=operator
        )
    ).json()
    assert count["@iot.count"] == 2


async def test_deletes_cascade_as_the_standard_says(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    operator = people.operator.headers
    refs = await make_thing(client, operator)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    await observe(client, operator, refs["datastream"], [[when.isoformat(), 40]])
    key = await client.post(f"/api/v1/sensors/things/{refs['thing']}/keys", headers=operator)
    assert key.status_code == 201

    response = await client.delete(f"{STA}/Things({refs['thing']})", headers=operator)
    assert response.status_code == 200
    assert response.content == b""
    for url in (f"Things({refs['thing']})", f"Datastreams({refs['datastream']})"):
        assert_problem(await client.get(f"{STA}/{url}", headers=operator), 404)
    for sql in (
        "SELECT count(*) FROM observations WHERE datastream_id = :i",
        "SELECT count(*) FROM observations_hourly WHERE datastream_id = :i",
        "SELECT count(*) FROM device_keys WHERE thing_id = :t",
    ):
        assert await db.scalar(sql, i=refs["datastream"], t=refs["thing"]) == 0
    # The location stays (only its link goes); the sensor and observed property stay too.
    for url in (f"Locations({refs['location']})", f"Sensors({refs['sensor']})"):
        assert (await client.get(f"{STA}/{url}", headers=operator)).status_code == 200
    assert_problem(await client.delete(f"{STA}/Things({refs['thing']})", headers=operator), 404)

    # A sensor takes the datastreams that need it; an observed property too.
    for nav, key_name in (("Sensors", "sensor"), ("ObservedProperties", "observed_property")):
        more = await make_thing(client, operator)
        await observe(client, operator, more["datastream"], [[when.isoformat(), 10]])
        response = await client.delete(f"{STA}/{nav}({more[key_name]})", headers=operator)
        assert response.status_code == 200
        assert_problem(
            await client.get(f"{STA}/Datastreams({more['datastream']})", headers=operator), 404
        )
        assert (
            await db.scalar(
                "SELECT count(*) FROM observations WHERE datastream_id = :i", i=more["datastream"]
            )
            == 0
        )
        assert (
            await client.get(f"{STA}/Things({more['thing']})", headers=operator)
        ).status_code == 200

    location = await make_thing(client, operator)
    response = await client.delete(f"{STA}/Locations({location['location']})", headers=operator)
    assert response.status_code == 200
    linked = (
        await client.get(f"{STA}/Things({location['thing']})/Locations", headers=operator)
    ).json()
    assert linked["value"] == []
