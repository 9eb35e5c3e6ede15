"""SensorThings HistoricalLocations (recorded when a thing gets its locations) and
FeaturesOfInterest (a thing's location, read as the feature of its observations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kommune.testing.service import Db, Personas, assert_problem

from .conftest import Api

STA = "/sta/v1.1"


def new_id(response: httpx.Response, entity_set: str) -> int:
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert urlsplit(location).path.startswith(f"{STA}/{entity_set}(")
    return int(location.rsplit("(", 1)[1].rstrip(")"))


async def _deep_insert(client: httpx.AsyncClient, people: Personas, place: str) -> int:
    thing = {
        "name": f"Pegel {place}",
        "Locations": [
            {
                "name": place,
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [10.15, 48.67]},
            }
        ],
    }
    response = await client.post(f"{STA}/Things", json=thing, headers=people.operator.headers)
    return new_id(response, "Things")


async def _get(client: httpx.AsyncClient, url: str, people: Personas) -> Any:
    response = await client.get(f"{STA}/{url}", headers=people.operator.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _location_of(client: httpx.AsyncClient, people: Personas, thing_id: int) -> int:
    [location] = (await _get(client, f"Things({thing_id})/Locations", people))["value"]
    return int(location["@iot.id"])


async def test_deep_insert_and_relinking_record_historical_locations(
    client: httpx.AsyncClient, people: Personas
) -> None:
    before = datetime.now(UTC)
    thing_id = await _deep_insert(client, people, "Brenzufer")
    first = await _location_of(client, people, thing_id)
    other = await _location_of(client, people, await _deep_insert(client, people, "Ostplatz"))

    history = (await _get(client, f"Things({thing_id})/HistoricalLocations", people))["value"]
    assert len(history) == 1
    [created] = history
    assert datetime.fromisoformat(created["time"]) >= before.replace(microsecond=0)
    hid = created["@iot.id"]
    locations = (await _get(client, f"HistoricalLocations({hid})/Locations", people))["value"]
    assert [loc["@iot.id"] for loc in locations] == [first]
    assert (await _get(client, f"HistoricalLocations({hid})/Thing", people))["@iot.id"] == thing_id
    back = (await _get(client, f"Locations({first})/HistoricalLocations", people))["value"]
    assert [h["@iot.id"] for h in back] == [hid]

    # The thing moves: PATCH relinks it, PUT relinks it back; each records a history entry.
    operator = people.operator.headers
    response = await client.patch(
        f"{STA}/Things({thing_id})", json={"Locations": [{"@iot.id": other}]}, headers=operator
    )
    assert response.status_code == 200, response.text
    response = await client.put(
        f"{STA}/Things({thing_id})",
        json={"name": "Pegel Brenzufer", "Locations": [{"@iot.id": first}]},
        headers=operator,
    )
    assert response.status_code == 200, response.text
    body = await _get(
        client,
        f"Things({thing_id})/HistoricalLocations?$orderby=time desc,id desc&$count=true"
        "&$expand=Locations($select=id)",
        people,
    )
    assert body["@iot.count"] == 3
    assert [[loc["@iot.id"] for loc in h["Locations"]] for h in body["value"]] == [
        [first],
        [other],
        [first],
    ]
    assert body["value"][-1]["@iot.id"] == hid
    to_other = body["value"][1]["@iot.id"]
    moved = (await _get(client, f"Locations({other})/HistoricalLocations", people))["value"]
    assert to_other in {h["@iot.id"] for h in moved}

    # The set: $filter on time, $top/$skip, $expand of the thing, one entity.
    since = created["time"]
    body = await _get(
        client,
        f"HistoricalLocations?$filter=Thing/id eq {thing_id} and time ge {since}"
        "&$top=2&$expand=Thing&$count=true",
        people,
    )
    assert body["@iot.count"] == 3
    assert len(body["value"]) == 2
    assert "@iot.nextLink" in body
    assert all(h["Thing"]["@iot.id"] == thing_id for h in body["value"])
    entity = await _get(client, f"HistoricalLocations({hid})", people)
    assert entity["time"] == created["time"]
    assert entity["Locations@iot.navigationLink"].endswith(f"HistoricalLocations({hid})/Locations")
    body = await _get(client, f"HistoricalLocations?$filter=time gt {since}&$skip=0", people)
    assert hid not in {h["@iot.id"] for h in body["value"]}


async def test_anonymous_callers_see_the_history_of_published_things_only(
    client: httpx.AsyncClient, api: Api, people: Personas
) -> None:
    public = (await api.thing(published=True))["id"]
    hidden = (await api.thing(published=False))["id"]
    [public_entry] = (await client.get(f"{STA}/Things({public})/HistoricalLocations")).json()[
        "value"
    ]
    [hidden_entry] = (await _get(client, f"Things({hidden})/HistoricalLocations", people))["value"]
    listed = (await client.get(f"{STA}/HistoricalLocations?$top=1000")).json()["value"]
    ids = {h["@iot.id"] for h in listed}
    assert public_entry["@iot.id"] in ids
    assert hidden_entry["@iot.id"] not in ids
    hid = hidden_entry["@iot.id"]
    assert_problem(await client.get(f"{STA}/HistoricalLocations({hid})"), 404)
    assert_problem(await client.get(f"{STA}/HistoricalLocations({hid})/Locations"), 404)
    assert_problem(await client.get(f"{STA}/Things({hidden})/HistoricalLocations"), 404)
    response = await client.get(f"{STA}/HistoricalLocations({public_entry['@iot.id']})/Thing")
    assert response.json()["@iot.id"] == public


async def test_an_observation_has_its_things_location_as_feature_of_interest(
    client: httpx.AsyncClient, api: Api, people: Personas, db: Db
) -> None:
    thing = await api.thing(published=True)
    location = thing["location"]["id"]
    stream = (await api.datastream(thing["id"]))["id"]
    hidden = await api.thing(published=False)
    hidden_stream = (await api.datastream(hidden["id"]))["id"]
    operator = people.operator.headers
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    observations = []
    for index, datastream in enumerate((stream, stream, hidden_stream)):
        body = {
            "phenomenonTime": (at + timedelta(minutes=index)).isoformat(),
            "result": index,
            "Datastream": {"@iot.id": datastream},
        }
        response = await client.post(f"{STA}/Observations", json=body, headers=operator)
        observations.append(new_id(response, "Observations"))

    feature = (await client.get(f"{STA}/Observations({observations[0]})/FeatureOfInterest")).json()
    assert feature["@iot.id"] == location
    assert feature["name"] == thing["location"]["name"]
    assert feature["encodingType"] == "application/geo+json"
    assert feature["feature"] == {
        "type": "Point",
        "coordinates": [thing["location"]["lon"], thing["location"]["lat"]],
    }
    body = (
        await client.get(f"{STA}/FeaturesOfInterest({location})/Observations?$count=true")
    ).json()
    assert body["@iot.count"] == 2
    assert {o["@iot.id"] for o in body["value"]} == set(observations[:2])
    expanded = (
        await client.get(f"{STA}/Observations({observations[1]})?$expand=FeatureOfInterest")
    ).json()
    assert expanded["FeatureOfInterest"]["@iot.id"] == location
    body = (
        await client.get(
            f"{STA}/Datastreams({stream})/Observations"
            f"?$filter=FeatureOfInterest/id eq {location}&$count=true"
        )
    ).json()
    assert body["@iot.count"] == 2
    assert (await client.get(f"{STA}/FeaturesOfInterest({location})")).json()["name"]

    # A hidden thing's feature and observations stay hidden from anonymous callers.
    hidden_location = hidden["location"]["id"]
    assert_problem(await client.get(f"{STA}/FeaturesOfInterest({hidden_location})"), 404)
    assert_problem(
        await client.get(f"{STA}/Observations({observations[2]})/FeatureOfInterest"), 404
    )
    features = (await client.get(f"{STA}/FeaturesOfInterest?$top=1000")).json()["value"]
    assert location in {f["@iot.id"] for f in features}
    assert hidden_location not in {f["@iot.id"] for f in features}
    staff = await _get(client, f"Observations({observations[2]})/FeatureOfInterest", people)
    assert staff["@iot.id"] == hidden_location

    # Features are derived: creating one, or naming one for an observation, is refused.
    counted = await db.counts("locations", "observations")
    response = await client.post(
        f"{STA}/FeaturesOfInterest",
        json={"name": "x", "encodingType": "application/geo+json", "feature": {}},
        headers=operator,
    )
    assert_problem(response, 400)
    body = {
        "phenomenonTime": (at + timedelta(minutes=10)).isoformat(),
        "result": 1,
        "Datastream": {"@iot.id": stream},
        "FeatureOfInterest": {"@iot.id": location},
    }
    assert_problem(await client.post(f"{STA}/Observations", json=body, headers=operator), 400)
    group = {
        "Datastream": {"@iot.id": stream},
        "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
        "dataArray": [[(at + timedelta(minutes=11)).isoformat(), 1, location]],
    }
    response = await client.post(f"{STA}/CreateObservations", json=[group], headers=operator)
    assert_problem(response, 400)
    assert await db.counts("locations", "observations") == counted
    response = await client.patch(
        f"{STA}/FeaturesOfInterest({location})", json={"name": "x"}, headers=operator
    )
    assert_problem(response, 405)
    assert_problem(
        await client.delete(f"{STA}/FeaturesOfInterest({location})", headers=operator), 405
    )


async def test_deleting_a_thing_deletes_its_history(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    thing_id = await _deep_insert(client, people, "Abrissplatz")
    [entry] = (await _get(client, f"Things({thing_id})/HistoricalLocations", people))["value"]
    hid = entry["@iot.id"]
    operator = people.operator.headers
    assert_problem(await client.delete(f"{STA}/HistoricalLocations({hid})", headers=operator), 405)
    response = await client.delete(f"{STA}/Things({thing_id})", headers=operator)
    assert response.status_code == 200, response.text
    response = await client.get(f"{STA}/HistoricalLocations({hid})", headers=operator)
    assert_problem(response, 404)
    left = await db.scalar(
        "SELECT count(*) FROM historical_locations WHERE thing_id = :id", id=thing_id
    )
    assert left == 0
    links = await db.scalar(
        "SELECT count(*) FROM historical_location_locations WHERE historical_location_id = :id",
        id=hid,
    )
    assert links == 0


@pytest.mark.parametrize(
    "url",
    [
        "HistoricalLocations(987654321)",
        "HistoricalLocations(987654321)/Thing",
        "HistoricalLocations(987654321)/Locations",
        "FeaturesOfInterest(987654321)",
        "FeaturesOfInterest(987654321)/Observations",
        "HistoricalLocations(1)/Nothing",
    ],
)
async def test_missing_ids_are_404(client: httpx.AsyncClient, people: Personas, url: str) -> None:
    assert_problem(await client.get(f"{STA}/{url}", headers=people.operator.headers), 404)


@pytest.mark.parametrize(
    "query",
    [
        "HistoricalLocations?$filter=time gt 'x' and",
        "HistoricalLocations?$filter=name eq 'x'",
        "HistoricalLocations?$orderby=nothing",
        "HistoricalLocations?$expand=Datastreams",
        "HistoricalLocations?$top=-1",
        "FeaturesOfInterest?$filter=feature eq 1",
        "FeaturesOfInterest?$expand=Things",
        "FeaturesOfInterest?$select=location",
    ],
)
async def test_bad_queries_are_400(client: httpx.AsyncClient, people: Personas, query: str) -> None:
    response = await client.get(f"{STA}/{query}", headers=people.operator.headers)
    assert_problem(response, 400)
