"""SensorThings writes: deep inserts with Location headers, Observations, CreateObservations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from kommune.testing.service import Db, Personas, assert_problem

STA = "/sta/v1.1"


def new_id(response: httpx.Response, entity_set: str) -> int:
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert urlsplit(location).path.startswith(f"{STA}/{entity_set}(")
    return int(location.rsplit("(", 1)[1].rstrip(")"))


async def test_a_client_creates_a_thing_a_datastream_and_observations(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    operator = people.operator.headers
    thing = {
        "name": "Zählstelle Grabenstraße (STA)",
        "description": "Kamera",
        "properties": {"pilot": "traffic"},
        "Locations": [
            {
                "name": "Grabenstraße",
                "description": "Höhe Nr. 12",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [10.1519, 48.6783]},
            }
        ],
    }
    thing_id = new_id(await client.post(f"{STA}/Things", json=thing, headers=operator), "Things")
    stream = {
        "name": "Fußgänger",
        "description": "stadteinwärts",
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "unitOfMeasurement": {"name": "count", "symbol": "1", "definition": "urn:count"},
        "properties": {"kind": "count"},
        "Thing": {"@iot.id": thing_id},
        "Sensor": {"name": "Zählkamera", "description": "-", "encodingType": "text/plain"},
        "ObservedProperty": {"name": "Pedestrians", "definition": "urn:kommune:pedestrians"},
    }
    response = await client.post(f"{STA}/Datastreams", json=stream, headers=operator)
    stream_id = new_id(response, "Datastreams")
    sensor = (await client.get(f"{STA}/Datastreams({stream_id})/Sensor", headers=operator)).json()
    # A second datastream linking the existing sensor by id.
    linked = {**stream, "name": "Fußgänger stadtauswärts", "Sensor": {"@iot.id": sensor["@iot.id"]}}
    linked_id = new_id(
        await client.post(f"{STA}/Datastreams", json=linked, headers=operator), "Datastreams"
    )
    linked_sensor = (
        await client.get(f"{STA}/Datastreams({linked_id})/Sensor", headers=operator)
    ).json()
    assert linked_sensor["@iot.id"] == sensor["@iot.id"]

    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    observation = {
        "phenomenonTime": when.isoformat(),
        "result": 42,
        "Datastream": {"@iot.id": stream_id},
    }
    obs_id = new_id(
        await client.post(f"{STA}/Observations", json=observation, headers=operator), "Observations"
    )
    got = (await client.get(f"{STA}/Observations({obs_id})", headers=operator)).json()
    assert got["result"] == 42

    data = [
        {
            "Datastream": {"@iot.id": stream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": [
                [(when + timedelta(minutes=1)).isoformat(), 3],
                [(when + timedelta(days=2)).isoformat(), 4],  # in the future
                [(when + timedelta(minutes=2)).isoformat(), 5],
            ],
        }
    ]
    created = await client.post(f"{STA}/CreateObservations", json=data, headers=operator)
    assert created.status_code == 201, created.text
    links = created.json()
    assert links[1] == "error"
    assert links[0].endswith(")")
    assert links[2].endswith(")")
    again = await client.post(f"{STA}/CreateObservations", json=data, headers=operator)
    assert again.json() == links  # the same readings are the same observations
    count = (
        await client.get(
            f"{STA}/Datastreams({stream_id})/Observations?$count=true&$top=1", headers=operator
        )
    ).json()
    assert count["@iot.count"] == 3
    stored = await db.scalar(
        "SELECT count(*) FROM observations WHERE datastream_id = :id", id=stream_id
    )
    assert stored == 3
    expanded = (
        await client.get(f"{STA}/Things({thing_id})?$expand=Locations", headers=operator)
    ).json()
    assert expanded["Locations"][0]["location"]["coordinates"] == [10.1519, 48.6783]


async def test_writes_refuse_bad_input_identifiers_and_other_roles(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    operator = people.operator.headers
    before = await db.counts("things", "datastreams", "observations")
    assert_problem(
        await client.post(f"{STA}/Things", json={"name": "x"}, headers=people.staff.headers), 403
    )
    assert_problem(await client.post(f"{STA}/Things", json={"name": "x"}), 401)
    assert_problem(
        await client.post(f"{STA}/Things", json={"description": "no name"}, headers=operator), 422
    )
    assert_problem(
        await client.post(
            f"{STA}/Things",
            content=b"{not json",
            headers={**operator, "Content-Type": "application/json"},
        ),
        422,
    )
    assert_problem(await client.post(f"{STA}/Nothing", json={}, headers=operator), 404)
    bad_point: dict[str, Any] = {
        "name": "x",
        "Locations": [{"name": "l", "location": {"type": "Point", "coordinates": [10.0, 95.0]}}],
    }
    assert_problem(await client.post(f"{STA}/Things", json=bad_point, headers=operator), 422)
    mac = {
        "phenomenonTime": "2026-01-01T00:00:00Z",
        "result": 1,
        "parameters": {"station": "a4:5e:60:e8:1f:0b"},
        "Datastream": {"@iot.id": 1},
    }
    assert_problem(await client.post(f"{STA}/Observations", json=mac, headers=operator), 422)
    missing = {
        "phenomenonTime": "2026-01-01T00:00:00Z",
        "result": 1,
        "Datastream": {"@iot.id": 987654321},
    }
    assert_problem(await client.post(f"{STA}/Observations", json=missing, headers=operator), 422)
    assert await db.counts("things", "datastreams", "observations") == before
