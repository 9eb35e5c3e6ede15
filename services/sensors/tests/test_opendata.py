"""Open data: the DCAT-AP.de catalogue (checked as JSON-LD) and the datasets as CSV and JSON,
anonymous, published things only, small counts suppressed, date ranges validated."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pyld import jsonld  # type: ignore[import-untyped]

from kommune.testing.service import Personas, assert_problem

from .test_sta_update import observe

OPEN = "/api/v1/opendata"
STA = "/sta/v1.1"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
LICENSE = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
BERLIN = ZoneInfo("Europe/Berlin")


async def test_catalogue_is_dcat_ap_de_json_ld(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{OPEN}/catalog")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    expanded = jsonld.expand(response.json())
    [catalog] = [node for node in expanded if f"{DCAT}Catalog" in node.get("@type", [])]
    publisher = catalog[f"{DCT}publisher"][0]
    assert publisher["http://xmlns.com/foaf/0.1/name"][0]["@value"] == (
        "Stadt Heidenheim an der Brenz"
    )
    datasets = catalog[f"{DCAT}dataset"]
    assert {d[f"{DCT}identifier"][0]["@value"] for d in datasets} == {
        "traffic-hourly",
        "waste-fill-daily",
        "social-districts",
    }
    for dataset in datasets:
        assert dataset["@type"] == [f"{DCAT}Dataset"]
        distributions = dataset[f"{DCAT}distribution"]
        assert len(distributions) == 2
        for distribution in distributions:
            assert distribution["@type"] == [f"{DCAT}Distribution"]
            assert distribution[f"{DCT}license"] == [{"@id": LICENSE}]
            url = distribution[f"{DCAT}downloadURL"][0]["@id"]
            assert url.endswith((".csv", ".json"))
            got = await client.get(url.replace("http://testserver", ""))
            assert got.status_code == 200, got.text


async def stream(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    *,
    published: bool,
    kind: str,
    definition: str,
) -> tuple[int, int]:
    thing = {
        "name": f"Open data {uuid.uuid4().hex[:6]}",
        "published": published,
        "district": "Schnaitheim",
    }
    response = await client.post("/api/v1/sensors/things", json=thing, headers=operator)
    assert response.status_code == 201, response.text
    thing_id = response.json()["id"]
    body = {
        "name": "Zählung",
        "kind": kind,
        "unit": {"name": "count", "symbol": "1", "definition": "urn:count"},
        "observed_property": {"name": definition.rsplit("/", 2)[-2], "definition": definition},
        "sensor": {"name": "Kamera"},
    }
    response = await client.post(
        f"/api/v1/sensors/things/{thing_id}/datastreams", json=body, headers=operator
    )
    assert response.status_code == 201, response.text
    return thing_id, response.json()["id"]


def window() -> tuple[datetime, str, str]:
    """Three whole hours ago (UTC), and a from/to of days around it (Berlin), to at most today."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    day = hour.astimezone(BERLIN).date()
    today = datetime.now(BERLIN).date()
    return (
        hour,
        (day - timedelta(days=1)).isoformat(),
        min(day + timedelta(days=1), today).isoformat(),
    )


async def test_traffic_hourly_published_only_small_counts_suppressed(
    client: httpx.AsyncClient, people: Personas
) -> None:
    operator = people.operator.headers
    definition = f"https://kommune.heidenheim.de/def/traffic/bicycle/in-{uuid.uuid4().hex[:6]}"
    thing_id, stream_id = await stream(
        client, operator, published=True, kind="count", definition=definition
    )
    hidden_thing, hidden_stream = await stream(
        client, operator, published=False, kind="count", definition=definition + "x"
    )
    hour, first, last = window()
    at = [hour + timedelta(minutes=m) for m in (0, 15, 60, 75)]
    await observe(client, operator, stream_id, [[at[0].isoformat(), 1], [at[1].isoformat(), 1]])
    await observe(client, operator, stream_id, [[at[2].isoformat(), 5], [at[3].isoformat(), 4]])
    await observe(client, operator, hidden_stream, [[at[0].isoformat(), 50]])

    response = await client.get(f"{OPEN}/datasets/traffic-hourly.json?from={first}&to={last}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["license"] == LICENSE
    mine = [row for row in body["rows"] if row["location_id"] == thing_id]
    assert [(r["count"], r["suppressed"]) for r in mine] == [(None, True), (9, False)]
    assert mine[1]["mode"] == "bicycle"
    assert mine[1]["hour_start"] == (hour + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert not [row for row in body["rows"] if row["location_id"] == hidden_thing]

    response = await client.get(f"{OPEN}/datasets/traffic-hourly.csv?from={first}&to={last}")
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == [
        "hour_start",
        "location_id",
        "location",
        "mode",
        "direction",
        "count",
        "suppressed",
    ]
    rows = [row for row in table if row["location_id"] == str(thing_id)]
    assert [(r["count"], r["suppressed"]) for r in rows] == [("", "True"), ("9", "False")]


async def test_waste_fill_daily(client: httpx.AsyncClient, people: Personas) -> None:
    operator = people.operator.headers
    thing_id, stream_id = await stream(
        client,
        operator,
        published=True,
        kind="fill_level",
        definition=f"https://kommune.heidenheim.de/def/waste/fill-{uuid.uuid4().hex[:6]}",
    )
    hour, first, last = window()
    await observe(
        client,
        operator,
        stream_id,
        [[hour.isoformat(), 40], [(hour + timedelta(minutes=30)).isoformat(), 60]],
    )
    body = (
        await client.get(f"{OPEN}/datasets/waste-fill-daily.json?from={first}&to={last}")
    ).json()
    [row] = [r for r in body["rows"] if r["container_id"] == thing_id]
    assert row == {
        "date": hour.astimezone(BERLIN).date().isoformat(),
        "container_id": thing_id,
        "container": row["container"],
        "district": "Schnaitheim",
        "readings": 2,
        "fill_level_mean": 50.0,
        "fill_level_min": 40.0,
        "fill_level_max": 60.0,
    }


async def test_social_districts_whole_months_only(
    client: httpx.AsyncClient, people: Personas
) -> None:
    for kind, count in (("offer", 8), ("request", 2)):
        response = await client.post(
            "/api/v1/social/records",
            json={"district": "Osterholz", "kind": kind, "count": count, "day": "2020-02-10"},
            headers=people.staff.headers,
        )
        assert response.status_code == 201
    url = f"{OPEN}/datasets/social-districts.json"
    rows: list[dict[str, Any]] = (await client.get(f"{url}?from=2020-01-01&to=2020-02-29")).json()[
        "rows"
    ]
    assert [r["month"] for r in rows] == ["2020-01"] * 10 + ["2020-02"] * 10
    [osterholz] = [r for r in rows if r["district"] == "Osterholz" and r["month"] == "2020-02"]
    assert osterholz == {
        "month": "2020-02",
        "district": "Osterholz",
        "offers": 8,
        "requests": None,
        "ratio": None,
        "suppressed": True,
    }
    # Months cut by the range are not published (they could be differenced).
    partial = (await client.get(f"{url}?from=2020-02-02&to=2020-03-15")).json()["rows"]
    assert partial == []
    this_month = datetime.now(BERLIN).date().replace(day=1)
    assert (await client.get(f"{url}?from={this_month}")).json()["rows"] == []
    table = (
        await client.get(f"{OPEN}/datasets/social-districts.csv?from=2020-02-01&to=2020-02-29")
    ).text
    assert table.splitlines()[0] == "month,district,offers,requests,ratio,suppressed"
    assert "2020-02,Osterholz,8,,,True" in table.splitlines()


async def test_bad_ranges_and_names(client: httpx.AsyncClient) -> None:
    later = (datetime.now(BERLIN).date() + timedelta(days=3)).isoformat()
    for query in (
        "from=2024-02-10&to=2024-02-01",
        "from=2023-01-01&to=2024-06-01",
        f"to={later}",
        "from=yesterday",
        "from=2024-02-30",
    ):
        assert_problem(await client.get(f"{OPEN}/datasets/traffic-hourly.json?{query}"), 422)
    for name in ("nothing.csv", "traffic-hourly.xml", "traffic-hourly", "..%2Fcatalog.json"):
        assert_problem(await client.get(f"{OPEN}/datasets/{name}"), 404)


async def test_sta_observations_are_the_source(client: httpx.AsyncClient, people: Personas) -> None:
    """The roll-ups the datasets read follow a deletion made through SensorThings."""
    operator = people.operator.headers
    definition = f"https://kommune.heidenheim.de/def/traffic/car/out-{uuid.uuid4().hex[:6]}"
    thing_id, stream_id = await stream(
        client, operator, published=True, kind="count", definition=definition
    )
    hour, first, last = window()
    ids = await observe(
        client,
        operator,
        stream_id,
        [[hour.isoformat(), 4], [(hour + timedelta(minutes=5)).isoformat(), 6]],
    )
    url = f"{OPEN}/datasets/traffic-hourly.json?from={first}&to={last}"

    async def counts() -> list[Any]:
        rows = (await client.get(url)).json()["rows"]
        return [r["count"] for r in rows if r["location_id"] == thing_id]

    assert await counts() == [10]
    deleted = await client.delete(f"{STA}/Observations({ids[1]})", headers=operator)
    assert deleted.status_code == 200
    assert await counts() == [4]
