"""The social map: anonymous counts recorded by staff, per district and month, small ones hidden."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kommune.testing.service import Db, Personas, assert_problem
from kommune_sensors.districts import DISTRICTS, canonical

RECORDS = "/api/v1/social/records"
MAP = "/api/v1/social/districts"


def test_district_names_are_the_citys_with_aliases() -> None:
    assert len(DISTRICTS) == 10
    assert canonical("Mitte") == "Innenstadt"
    assert canonical("  zanger   berg ") == "Zanger Berg"
    assert canonical("Grosskuchen") == "Großkuchen"
    assert canonical("Ulm") is None


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(RECORDS, json=body, headers=headers)


async def test_staff_record_counts_and_the_map_suppresses_small_ones(
    client: httpx.AsyncClient, people: Personas
) -> None:
    staff, operator = people.staff.headers, people.operator.headers
    entries = [
        (staff, "Schnaitheim", "offer", 5),
        (operator, "Schnaitheim", "request", 4),
        (staff, "Oggenhausen", "offer", 2),  # suppressed
        (people.caseworker.headers, "Oggenhausen", "request", 7),
        (staff, "Mergelstetten", "offer", 3),  # no requests: no ratio
        (staff, "Aufhausen", "offer", 1),  # three records of one: together 3, shown
        (staff, "Aufhausen", "offer", 1),
        (people.admin.headers, "Aufhausen", "offer", 1),
        (staff, "Aufhausen", "request", 3),
        (staff, "mitte", "request", 6),
    ]
    for headers, district, kind, count in entries:
        response = await post(
            client, headers, district=district, kind=kind, count=count, day="2019-03-14"
        )
        assert response.status_code == 201, response.text
    assert response.json()["district"] == "Innenstadt"
    # Another month does not leak into March.
    response = await post(
        client, staff, district="Schnaitheim", kind="offer", count=9, day="2019-04-01"
    )
    assert response.status_code == 201

    body = (await client.get(f"{MAP}?month=2019-03", headers=people.records_manager.headers)).json()
    assert body["month"] == "2019-03"
    assert body["minimum_count"] == 3
    by_name = {item["district"]: item for item in body["districts"]}
    assert list(by_name) == list(DISTRICTS)
    assert by_name["Schnaitheim"] == {
        "district": "Schnaitheim",
        "offers": 5,
        "requests": 4,
        "ratio": 1.25,
        "suppressed": False,
    }
    assert by_name["Oggenhausen"]["offers"] is None
    assert by_name["Oggenhausen"]["requests"] == 7
    assert by_name["Oggenhausen"]["ratio"] is None
    assert by_name["Oggenhausen"]["suppressed"] is True
    assert by_name["Mergelstetten"]["ratio"] is None
    assert by_name["Mergelstetten"]["requests"] == 0
    assert by_name["Aufhausen"]["offers"] == 3
    assert by_name["Aufhausen"]["ratio"] == 1.0
    assert by_name["Innenstadt"]["requests"] == 6
    assert by_name["Osterholz"] == {
        "district": "Osterholz",
        "offers": 0,
        "requests": 0,
        "ratio": None,
        "suppressed": False,
    }


async def test_who_may_record_and_read(client: httpx.AsyncClient, people: Personas, db: Db) -> None:
    before = await db.counts("social_records")
    body = {"district": "Reutenen", "kind": "offer", "count": 3, "day": "2019-05-02"}
    assert_problem(await client.post(RECORDS, json=body), 401)
    for persona in ("citizen", "change_agent", "project_lead", "records_manager", "nobody"):
        headers = people.by_name(persona).headers
        assert_problem(await client.post(RECORDS, json=body, headers=headers), 403)
    assert_problem(await client.get(f"{MAP}?month=2019-05"), 401)
    assert_problem(await client.get(f"{MAP}?month=2019-05", headers=people.citizen.headers), 403)
    assert await db.counts("social_records") == before


@pytest.mark.parametrize(
    "change",
    [
        {"district": "Ulm"},
        {"district": ""},
        {"kind": "gift"},
        {"count": 0},
        {"count": 1001},
        {"count": "5"},
        {"count": 2.5},
        {"day": "2017-12-31"},
        {"day": "2999-01-01"},
        {"day": "14.03.2019"},
        {"name": "Frau Müller"},  # nothing about people can be sent
        {"note": "Einkaufshilfe Hauptstr. 5"},
    ],
)
async def test_bad_records_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, people: Personas, db: Db, change: dict[str, Any]
) -> None:
    before = await db.counts("social_records")
    body = {"district": "Reutenen", "kind": "offer", "count": 3, "day": "2019-05-02", **change}
    assert_problem(await client.post(RECORDS, json=body, headers=people.staff.headers), 422)
    assert await db.counts("social_records") == before


async def test_bad_months(client: httpx.AsyncClient, people: Personas) -> None:
    for month in ("2019-13", "2019-3", "2017-01", "2999-01", "abc"):
        assert_problem(await client.get(f"{MAP}?month={month}", headers=people.staff.headers), 422)
    current = await client.get(MAP, headers=people.staff.headers)
    assert current.status_code == 200
    assert len(current.json()["districts"]) == 10
