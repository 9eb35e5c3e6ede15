"""Which containers the truck empties on a day, and in which order.

A container is on the plan for ``day`` if it is at or above the threshold now, or if at its
current rate it reaches 100 % before the next collection day after ``day`` begins (Europe/Berlin):
skipping it would let it overflow. Containers without a location cannot be driven to; they are
listed apart so nobody forgets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kommune_sensors.waste.containers import ContainerState, Point
from kommune_sensors.waste.route import plan_route

BERLIN = ZoneInfo("Europe/Berlin")


def next_collection_day(day: date, weekdays: Sequence[int]) -> date:
    """The first collection day after ``day`` (``weekdays``: 0 = Monday)."""
    for ahead in range(1, 8):
        candidate = day + timedelta(days=ahead)
        if candidate.weekday() in weekdays:
            return candidate
    raise ValueError("no collection weekday configured")


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BERLIN)


def reason_for(state: ContainerState, deadline: datetime) -> str | None:
    if state.above_threshold:
        return "above_threshold"
    if state.predicted_full_at is not None and state.predicted_full_at < deadline:
        return "predicted_full"
    return None


@dataclass(frozen=True, slots=True)
class Stop:
    container: ContainerState
    reason: str
    position: int | None


@dataclass(frozen=True, slots=True)
class CollectionPlan:
    day: date
    next_collection_day: date
    depot: Point
    stops: list[Stop]
    """In driving order; containers without a location last, with ``position`` None."""
    distance_m: int


def collection_plan(
    states: Sequence[ContainerState], day: date, weekdays: Sequence[int], depot: Point
) -> CollectionPlan:
    following = next_collection_day(day, weekdays)
    deadline = start_of(following)
    chosen = [(state, reason) for state in states if (reason := reason_for(state, deadline))]
    routable = [(state, reason) for state, reason in chosen if state.location is not None]
    route = plan_route(depot, [state.location for state, _ in routable if state.location])
    stops = [
        Stop(routable[index][0], routable[index][1], position)
        for position, index in enumerate(route.order, start=1)
    ]
    stops += [Stop(state, reason, None) for state, reason in chosen if state.location is None]
    return CollectionPlan(day, following, depot, stops, route.distance_m)
