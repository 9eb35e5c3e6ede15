"""SensorThings 1.1 reads: root, sets, entities, navigation, query options, $filter, visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from kommune.testing.service import Personas, assert_problem

from .conftest import Api

STA = "/sta/v1.1"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
RESULTS = [3, 17, 8, 25, 12, 30, 1, 19, 22, 5]


@pytest_asyncio.fixture(loop_scope="session")
async def pilot(api: Api, client: httpx.AsyncClient, people: Personas) -> dict[str, Any]:
    """A published counter with ten readings, and an unpublished thing beside it."""
    public = await api.thing(name="Zählstelle Hauptstraße", published=True)
    stream = await api.datastream(public["id"], kind="count")
    hidden = await api.thing(name="Schulhof Nord (intern)", published=False)
    hidden_stream = await api.datastream(hidden["id"], kind="count")
    rows = [
        {
            "datastream": stream["id"],
            "phenomenonTime": (START + timedelta(minutes=15 * i)).isoformat(),
            "result": value,
        }
        for i, value in enumerate(RESULTS)
    ]
    rows.append(
        {"datastream": hidden_stream["id"], "phenomenonTime": START.isoformat(), "result": 4}
    )
    response = await client.post(
        "/api/v1/sensors/observations", json=rows, headers=people.operator.headers
    )
    assert response.status_code == 202, response.text
    await api.wait_stored(stream["id"], len(RESULTS))
    await api.wait_stored(hidden_stream["id"], 1)
    return {"public": public, "stream": stream, "hidden": hidden, "hidden_stream": hidden_stream}


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


async def test_service_root_lists_sets_and_conformance(client: httpx.AsyncClient) -> None:
    body = (await client.get(STA)).json()
    names = [entry["name"] for entry in body["value"]]
    assert names == [
        "Things",
        "Locations",
        "HistoricalLocations",
        "Datastreams",
        "Sensors",
        "ObservedProperties",
        "Observations",
        "FeaturesOfInterest",
    ]
    assert body["value"][0]["url"].endswith("/sta/v1.1/Things")
    assert any("datamodel" in c for c in body["serverSettings"]["conformance"])
    assert any(c.endswith("/create-update-delete") for c in body["serverSettings"]["conformance"])


async def test_anonymous_callers_see_published_things_only(
    client: httpx.AsyncClient, pilot: dict[str, Any], people: Personas
) -> None:
    ids = {t["@iot.id"] for t in (await client.get(f"{STA}/Things?$top=1000")).json()["value"]}
    assert pilot["public"]["id"] in ids
    assert pilot["hidden"]["id"] not in ids
    hidden = pilot["hidden"]["id"]
    assert_problem(await client.get(f"{STA}/Things({hidden})"), 404)
    assert_problem(await client.get(f"{STA}/Things({hidden})/Datastreams"), 404)
    stream = pilot["hidden_stream"]["id"]
    assert_problem(await client.get(f"{STA}/Datastreams({stream})/Observations"), 404)
    assert_problem(await client.get(f"{STA}/Things({hidden})", headers=people.citizen.headers), 404)
    staff = await client.get(f"{STA}/Things({hidden})", headers=people.staff.headers)
    assert staff.status_code == 200
    assert staff.json()["name"] == "Schulhof Nord (intern)"


async def test_entity_navigation_select_and_expand(
    client: httpx.AsyncClient, pilot: dict[str, Any]
) -> None:
    thing_id = pilot["public"]["id"]
    thing = (await client.get(f"{STA}/Things({thing_id})")).json()
    assert thing["@iot.selfLink"].endswith(f"/Things({thing_id})")
    assert thing["Datastreams@iot.navigationLink"].endswith(f"/Things({thing_id})/Datastreams")
    streams = (await client.get(path(thing["Datastreams@iot.navigationLink"]))).json()["value"]
    assert [s["@iot.id"] for s in streams] == [pilot["stream"]["id"]]
    expanded = (await client.get(f"{STA}/Things({thing_id})?$expand=Datastreams,Locations")).json()
    assert [s["@iot.id"] for s in expanded["Datastreams"]] == [pilot["stream"]["id"]]
    assert expanded["Locations"][0]["location"] == {
        "type": "Point",
        "coordinates": [10.1519, 48.6783],
    }
    selected = (await client.get(f"{STA}/Things({thing_id})?$select=name")).json()
    assert set(selected) == {"@iot.id", "@iot.selfLink", "name"}
    sensor = (await client.get(f"{STA}/Datastreams({pilot['stream']['id']})/Sensor")).json()
    assert sensor["name"] == "Zählkamera"


async def test_observations_filter_order_top_count_and_next_link(
    client: httpx.AsyncClient, pilot: dict[str, Any]
) -> None:
    stream = pilot["stream"]["id"]
    cutoff = (START + timedelta(minutes=15 * 8)).isoformat().replace("+00:00", "Z")
    url = (
        f"{STA}/Datastreams({stream})/Observations?$filter=result gt 10 and phenomenonTime lt "
        f"{cutoff}&$orderby=result desc&$top=2&$count=true"
    )
    first = (await client.get(url)).json()
    expected = sorted((r for r in RESULTS[:8] if r > 10), reverse=True)
    assert first["@iot.count"] == len(expected)
    assert [o["result"] for o in first["value"]] == expected[:2]
    second = (await client.get(path(first["@iot.nextLink"]))).json()
    assert [o["result"] for o in second["value"]] == expected[2:4]
    everything = (await client.get(f"{STA}/Datastreams({stream})/Observations?$count=true")).json()
    assert everything["@iot.count"] == len(RESULTS)  # the writer's count, no scan
    latest = (
        await client.get(
            f"{STA}/Datastreams({stream})/Observations?$orderby=phenomenonTime desc&$top=1"
        )
    ).json()
    assert [o["result"] for o in latest["value"]] == [RESULTS[-1]]


async def test_filter_paths_functions_and_arithmetic(
    client: httpx.AsyncClient, pilot: dict[str, Any], people: Personas
) -> None:
    stream = pilot["stream"]["id"]
    staff = people.staff.headers
    by_path = await client.get(
        f"{STA}/Observations?$filter=Datastream/id eq {stream} and result mul 2 ge 40&$top=100",
        headers=staff,
    )
    assert sorted(o["result"] for o in by_path.json()["value"]) == sorted(
        r for r in RESULTS if r * 2 >= 40
    )
    names = await client.get(
        f"{STA}/Things?$filter=startswith(name, 'Zählstelle Haupt') and not (name eq 'x')"
    )
    assert pilot["public"]["id"] in {t["@iot.id"] for t in names.json()["value"]}
    nav_name = await client.get(
        f"{STA}/Datastreams?$filter=Thing/name eq 'Zählstelle Hauptstraße'&$top=1000"
    )
    assert pilot["stream"]["id"] in {d["@iot.id"] for d in nav_name.json()["value"]}
    hour = START.hour
    by_hour = await client.get(
        f"{STA}/Datastreams({stream})/Observations?$filter=hour(phenomenonTime) eq {hour}"
    )
    in_hour = [i for i in range(len(RESULTS)) if (START + timedelta(minutes=15 * i)).hour == hour]
    assert len(by_hour.json()["value"]) == len(in_hour)
    injected = await client.get(f"{STA}/Things?$filter=name eq 'x'' or 1 eq 1 or name eq ''y'")
    assert injected.json()["value"] == []


@pytest.mark.parametrize(
    "query",
    [
        "$filter=result gt",
        "$filter=nosuchproperty eq 1",
        "$filter=nosuchfunction(name) eq 1",
        "$filter=length(name, name) eq 1",
        "$filter=Datastreams/name eq 'x'",
        "$filter=" + "(" * 3000,
        "$top=abc",
        "$top=100000",
        "$skip=-1",
        "$count=maybe",
        "$orderby=name sideways",
        "$select=secret",
        "$expand=Nothing",
        "$format=xml",
    ],
)
async def test_bad_query_options_are_400(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"{STA}/Things?{query}")
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_paths_and_writes(client: httpx.AsyncClient, people: Personas) -> None:
    assert_problem(await client.get(f"{STA}/Nothing"), 404)
    assert_problem(await client.get(f"{STA}/Things(1)/Nothing"), 404)
    assert_problem(await client.get(f"{STA}/Things/Datastreams"), 404)
    assert_problem(await client.get(f"{STA}/Things(999999999)"), 404)
    assert_problem(await client.get(f"{STA}/HistoricalLocations(999999999)"), 404)
    response = await client.post(f"{STA}/Things", json={}, headers=people.admin.headers)
    assert_problem(response, 422)  # writes: test_sta_write.py
    # updates and deletes: test_sta_update.py
    assert_problem(await client.delete(f"{STA}/Things", headers=people.admin.headers), 405)
