"""Traffic: a day's summary (the dashboard), counts per 15 minutes and hour, week against week."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from kommune.testing.service import Db, Personas, assert_problem
from kommune_sensors.traffic.streams import Mode, traffic_definition

from .conftest import Api
from .readings import datastream, store_readings

BERLIN = ZoneInfo("Europe/Berlin")
SUMMARY = "/api/v1/traffic/summary"


async def counting_station(
    api: Api, client: httpx.AsyncClient, people: Personas, name: str
) -> tuple[dict[str, Any], dict[tuple[str, str], int]]:
    thing = await api.thing(name=name)
    streams = {}
    for mode, direction in (
        (Mode.PEDESTRIAN, "in"),
        (Mode.PEDESTRIAN, "out"),
        (Mode.BICYCLE, "in"),
        (Mode.CAR, "out"),
    ):
        streams[(mode.value, direction)] = await datastream(
            client, people, thing["id"], "count", traffic_definition(mode, direction)
        )
    return thing, streams


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


async def test_summary_of_a_day_by_mode_and_location(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    day = datetime.now(BERLIN).date() - timedelta(days=20)  # apart from other tests' days
    graben, g = await counting_station(api, client, people, "Zählstelle Grabenstraße")
    haupt, h = await counting_station(api, client, people, "WLAN-Zählung Hauptstraße")
    await store_readings(
        db,
        [
            (g[("pedestrian", "in")], at(day, 0, 15), 4),  # just after local midnight
            (g[("pedestrian", "out")], at(day, 8), 6),
            (g[("bicycle", "in")], at(day, 8), 3),
            (g[("car", "out")], at(day, 23, 45), 10),
            (g[("car", "out")], at(day + timedelta(days=1), 0, 0), 99),  # the next day
            (h[("pedestrian", "in")], at(day, 12), 20),
        ],
    )
    response = await client.get(
        SUMMARY, params={"date": day.isoformat()}, headers=people.staff.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["date"] == day.isoformat()
    locations = {item["thing_id"]: item for item in body["locations"]}
    assert locations[graben["id"]] == {
        "thing_id": graben["id"],
        "name": "Zählstelle Grabenstraße",
        "pedestrian": 10,
        "bicycle": 3,
        "car": 10,
    }
    assert locations[haupt["id"]]["pedestrian"] == 20
    assert body["totals"] == {
        mode: sum(item[mode] for item in body["locations"])
        for mode in ("pedestrian", "bicycle", "car")
    }
    assert body["totals"]["pedestrian"] >= 30

    default = await client.get(SUMMARY, headers=people.project_lead.headers)
    assert default.status_code == 200
    assert default.json()["date"] == datetime.now(BERLIN).date().isoformat()


async def test_counts_in_15_minute_and_hourly_buckets(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    day = datetime.now(BERLIN).date() - timedelta(days=19)
    thing, s = await counting_station(api, client, people, "Zählstelle Grabenstraße")
    readings = [
        (s[("bicycle", "in")], at(day, 7, minute), 1 + minute % 4) for minute in range(0, 60, 5)
    ] + [(s[("car", "out")], at(day, 7, 20), 7), (s[("car", "out")], at(day, 8, 5), 9)]
    await store_readings(db, readings)
    params = {
        "thing_id": thing["id"],
        "from": at(day, 7).isoformat(),
        "to": at(day, 9).isoformat(),
    }
    quarter = await client.get(
        "/api/v1/traffic/counts", params={**params, "bucket": "15min"}, headers=people.staff.headers
    )
    assert quarter.status_code == 200, quarter.text
    got = [
        (
            datetime.fromisoformat(i["start"]).astimezone(BERLIN).strftime("%H:%M"),
            i["mode"],
            i["direction"],
            i["count"],
        )
        for i in quarter.json()["items"]
    ]
    expected_bicycles: dict[str, float] = {}
    for _, when, value in readings[:12]:
        start = when.replace(minute=when.minute // 15 * 15).strftime("%H:%M")
        expected_bicycles[start] = expected_bicycles.get(start, 0) + value
    assert [(t, c) for t, m, _, c in got if m == "bicycle"] == sorted(expected_bicycles.items())
    assert [(t, c) for t, m, d, c in got if m == "car" and d == "out"] == [
        ("07:15", 7),
        ("08:00", 9),
    ]

    hourly = await client.get(
        "/api/v1/traffic/counts", params={**params, "bucket": "hour"}, headers=people.staff.headers
    )
    assert hourly.status_code == 200, hourly.text
    hours = {
        (datetime.fromisoformat(i["start"]).astimezone(BERLIN).hour, i["mode"]): i["count"]
        for i in hourly.json()["items"]
    }
    assert hours == {(7, "bicycle"): sum(expected_bicycles.values()), (7, "car"): 7, (8, "car"): 9}


async def test_this_week_against_last_week_and_busiest_hours(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    today = datetime.now(BERLIN).date()
    wednesday = today - timedelta(days=today.weekday()) - timedelta(days=12)  # two weeks back
    thing, s = await counting_station(api, client, people, "Zählstelle Grabenstraße")
    monday = wednesday - timedelta(days=2)
    readings = [
        (s[("bicycle", "in")], at(monday, 17), 30),
        (s[("bicycle", "in")], at(wednesday, 8), 20),
        (s[("bicycle", "in")], at(wednesday + timedelta(days=1), 8), 500),  # after the date
        (s[("bicycle", "in")], at(monday - timedelta(days=7), 17), 40),
        (s[("car", "out")], at(monday - timedelta(days=7), 9), 10),
        (s[("pedestrian", "in")], at(wednesday, 12), 5),
    ]
    await store_readings(db, readings)
    response = await client.get(
        "/api/v1/traffic/comparison",
        params={"thing_id": thing["id"], "date": wednesday.isoformat()},
        headers=people.staff.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["this_week"] == {"start": monday.isoformat(), "end": wednesday.isoformat()}
    modes = {m["mode"]: m for m in body["modes"]}
    assert modes["bicycle"] == {
        "mode": "bicycle",
        "this_week": 50,
        "last_week": 40,
        "change_percent": 25.0,
    }
    assert modes["car"] == {
        "mode": "car",
        "this_week": 0,
        "last_week": 10,
        "change_percent": -100.0,
    }
    assert modes["pedestrian"]["change_percent"] is None
    assert body["busiest_hours"] == [
        {"hour": 17, "count": 30},
        {"hour": 8, "count": 20},
        {"hour": 12, "count": 5},
    ]


async def test_traffic_needs_a_staff_token_and_valid_queries(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    thing = await api.thing()
    for path in (
        SUMMARY,
        "/api/v1/traffic/comparison",
        f"/api/v1/traffic/counts?thing_id={thing['id']}",
    ):
        assert_problem(await client.get(path), 401)
        assert_problem(await client.get(path, headers=people.citizen.headers), 403)
    staff = people.staff.headers
    for params in ({"date": "2026-13-01"}, {"date": "yesterday"}):
        assert_problem(await client.get(SUMMARY, params=params, headers=staff), 422)
    counts = "/api/v1/traffic/counts"
    bad: list[dict[str, Any]] = [
        {},
        {"thing_id": "x"},
        {"thing_id": thing["id"], "bucket": "5min"},
        {"thing_id": thing["id"], "from": "2026-11-01T10:00:00"},  # no offset
        {"thing_id": thing["id"], "from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {
            "thing_id": thing["id"],
            "bucket": "15min",
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-09T00:00:00Z",
        },
    ]
    for params in bad:
        assert_problem(await client.get(counts, params=params, headers=staff), 422)
    assert_problem(await client.get(counts, params={"thing_id": 2**62}, headers=staff), 404)
