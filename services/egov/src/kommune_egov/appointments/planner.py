"""Slots from opening rules: which appointments a location offers on which days.

Opening hours are local time (Europe/Berlin); slots are stored in UTC. A slot that would run past
closing time is not offered, and on the days the clocks change the local times still hold (an
09:00 appointment is at 09:00 on the wall clock, whatever the offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True, slots=True)
class Opening:
    weekday: int
    """ISO weekday, 1 = Monday."""
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    starts_at: datetime
    ends_at: datetime


def plan_slots(
    openings: Iterable[Opening], slot_minutes: int, first_day: date, last_day: date
) -> Iterator[PlannedSlot]:
    """Every slot of ``slot_minutes`` within the openings, from ``first_day`` to ``last_day``."""
    by_weekday: dict[int, list[Opening]] = {}
    for opening in openings:
        by_weekday.setdefault(opening.weekday, []).append(opening)
    length = timedelta(minutes=slot_minutes)
    day = first_day
    while day <= last_day:
        for opening in sorted(by_weekday.get(day.isoweekday(), ()), key=lambda o: o.opens):
            start = datetime.combine(day, opening.opens, LOCAL_TIME)
            closes = datetime.combine(day, opening.closes, LOCAL_TIME)
            # Wall-clock arithmetic: add to the naive local time, then attach the zone again.
            while (start.replace(tzinfo=None) + length) <= closes.replace(tzinfo=None):
                end = (start.replace(tzinfo=None) + length).replace(tzinfo=LOCAL_TIME)
                yield PlannedSlot(start.astimezone(UTC), end.astimezone(UTC))
                start = end
        day += timedelta(days=1)
