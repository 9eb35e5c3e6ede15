"""The collection plan: which containers, the route (against brute force), roles, bad dates."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from kommune.testing.service import Personas, assert_problem
from kommune_sensors.waste.containers import Point
from kommune_sensors.waste.plan import next_collection_day
from kommune_sensors.waste.route import distance_m, plan_route, tour_length

URL = "/api/v1/waste/collection-plan"
BERLIN = ZoneInfo("Europe/Berlin")
DEPOT = Point(48.6851, 10.1705)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_route_is_the_shortest_tour_for_a_handful_of_stops(seed: int) -> None:
    rng = random.Random(seed)
    stops = [Point(48.65 + rng.random() * 0.09, 10.13 + rng.random() * 0.12) for _ in range(7)]
    route = plan_route(DEPOT, stops)
    assert sorted(route.order) == list(range(7))
    best = min(tour_length(DEPOT, stops, order) for order in itertools.permutations(range(7)))
    assert route.distance_m == best
    assert plan_route(DEPOT, stops) == route  # the same stops, the same route


def test_trivial_routes_and_distances() -> None:
    assert plan_route(DEPOT, []).order == []
    assert plan_route(DEPOT, []).distance_m == 0
    one = Point(48.6766, 10.1536)
    assert plan_route(DEPOT, [one]).distance_m == 2 * distance_m(DEPOT, one)
    # Heidenheim Marktplatz to Schnaitheim: about 3 km as the crow flies
    assert 2500 < distance_m(one, Point(48.7016, 10.1713)) < 3500


def test_the_next_collection_day() -> None:
    sunday = date(2026, 11, 29)
    assert next_collection_day(sunday, [0, 3]) == date(2026, 11, 30)
    assert next_collection_day(date(2026, 11, 30), [0, 3]) == date(2026, 12, 3)
    assert next_collection_day(date(2026, 12, 3), [0, 3]) == date(2026, 12, 7)
    assert next_collection_day(sunday, [6]) == date(2026, 12, 6)


async def test_the_plan_needs_a_staff_token_and_a_good_date(
    client: httpx.AsyncClient, people: Personas
) -> None:
    assert_problem(await client.get(URL), 401)
    assert_problem(await client.get(URL, headers=people.citizen.headers), 403)
    today = datetime.now(BERLIN).date()
    for bad in (
        "2026-02-30",
        "tomorrow",
        (today - timedelta(days=1)).isoformat(),  # the past cannot be planned from levels now
        (today + timedelta(days=29)).isoformat(),
    ):
        assert_problem(
            await client.get(URL, params={"date": bad}, headers=people.staff.headers), 422
        )
    ahead = await client.get(
        URL,
        params={"date": (today + timedelta(days=28)).isoformat()},
        headers=people.records_manager.headers,
    )
    assert ahead.status_code == 200, ahead.text
    assert ahead.json()["next_collection_date"] > ahead.json()["date"]
