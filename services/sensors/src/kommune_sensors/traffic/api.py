"""Traffic: ``/summary`` (a day's totals), ``/counts`` (15 minutes, hours), ``/comparison`` (week
against week, busiest hours). Staff only. Days are Europe/Berlin days.

Reads come from the roll-ups the writer keeps where they fit (daily for a day's or a week's
totals, hourly for hours); 15-minute buckets are summed from the raw readings of one location's
datastreams over at most 7 days, which the primary key ``(datastream_id, phenomenon_time)`` and
the daily partitions bound.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import InvalidInput, NotFound
from kommune.routing import service_router
from kommune_sensors.access import Permission, requires
from kommune_sensors.clock import utc_now
from kommune_sensors.devices.models import Thing
from kommune_sensors.ingestion.models import ObservationDaily, ObservationHourly
from kommune_sensors.traffic.streams import Mode, traffic_streams

BERLIN = ZoneInfo("Europe/Berlin")
router = service_router("/api/v1/traffic", tags=["traffic"])
MayRead = Annotated[Principal, Depends(requires(Permission.READ_DATA))]
ThingId = Annotated[int, Query(ge=1, le=2**63 - 1)]
Bucket = Literal["15min", "hour"]
MAX_SPAN = {"15min": timedelta(days=7), "hour": timedelta(days=93)}
BUCKET_SIZE = {"15min": timedelta(minutes=15), "hour": timedelta(hours=1)}


def today_in_berlin() -> date:
    return utc_now().astimezone(BERLIN).date()


def berlin_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BERLIN)


# -- summary -----------------------------------------------------------------------------------


class LocationTotals(BaseModel):
    thing_id: int
    name: str
    pedestrian: int
    bicycle: int
    car: int


class Totals(BaseModel):
    pedestrian: int
    bicycle: int
    car: int


class TrafficSummary(BaseModel):
    date: date
    totals: Totals
    locations: list[LocationTotals]


@router.get("/summary", summary="A day's counts by mode, per location and in total")
async def traffic_summary(
    session: DbSession,
    principal: MayRead,
    day: Annotated[
        date | None, Query(alias="date", description="YYYY-MM-DD (Europe/Berlin); default today.")
    ] = None,
) -> TrafficSummary:
    day = day or today_in_berlin()
    streams = traffic_streams().subquery()
    rows = await session.execute(
        select(
            streams.c.thing_id,
            streams.c.thing_name,
            streams.c.mode,
            func.coalesce(func.sum(ObservationDaily.sum), 0),
        )
        .outerjoin(
            ObservationDaily,
            (ObservationDaily.datastream_id == streams.c.datastream_id)
            & (ObservationDaily.day == day),
        )
        .group_by(streams.c.thing_id, streams.c.thing_name, streams.c.mode)
        .order_by(streams.c.thing_id)
    )
    locations: dict[int, dict[str, int | str]] = {}
    for thing_id, name, mode, total in rows.all():
        entry = locations.setdefault(
            thing_id, {"thing_id": thing_id, "name": name, **{m.value: 0 for m in Mode}}
        )
        entry[mode] = round(total)
    items = [LocationTotals.model_validate(entry) for entry in locations.values()]
    totals = Totals(
        pedestrian=sum(item.pedestrian for item in items),
        bicycle=sum(item.bicycle for item in items),
        car=sum(item.car for item in items),
    )
    return TrafficSummary(date=day, totals=totals, locations=items)


# -- counts ------------------------------------------------------------------------------------


class CountOut(BaseModel):
    start: datetime
    mode: str
    direction: str
    count: int


class CountsOut(BaseModel):
    thing_id: int
    bucket: Bucket
    start: datetime
    end: datetime
    items: list[CountOut]
    """Buckets with readings, by start, mode, direction (a bucket without readings is absent)."""


FIFTEEN_MINUTES = text(
    """
SELECT date_bin('15 minutes', phenomenon_time, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS start,
       datastream_id, sum(result) AS count
FROM observations
WHERE datastream_id = ANY(:ids) AND phenomenon_time >= :start AND phenomenon_time < :end
GROUP BY 1, 2
"""
)
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


async def streams_of(session: AsyncSession, thing_id: int | None) -> dict[int, tuple[str, str]]:
    """``{datastream id: (mode, direction)}`` of one location's (or every) traffic datastream."""
    statement = traffic_streams()
    if thing_id is not None:
        if await session.get(Thing, thing_id) is None:
            raise NotFound(f"There is no thing {thing_id}.")
        statement = statement.where(Thing.id == thing_id)
    rows = await session.execute(statement)
    return {row.datastream_id: (row.mode, row.direction) for row in rows.all()}


def floor_to(moment: datetime, size: timedelta) -> datetime:
    return ORIGIN + ((moment - ORIGIN) // size) * size


def checked_range(
    start: datetime | None, end: datetime | None, bucket: Bucket
) -> tuple[datetime, datetime]:
    end = end or utc_now()
    start = start or end - timedelta(days=1)
    if start >= end:
        raise InvalidInput("from must be before to.")
    if end - start > MAX_SPAN[bucket]:
        raise InvalidInput(f"{bucket} buckets span at most {MAX_SPAN[bucket].days} days.")
    return floor_to(start, BUCKET_SIZE[bucket]).astimezone(UTC), end.astimezone(UTC)


@router.get("/counts", summary="Counts by mode and direction of a location, per 15 min or hour")
async def traffic_counts(
    session: DbSession,
    principal: MayRead,
    thing_id: ThingId,
    bucket: Annotated[Bucket, Query()] = "hour",
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339; default 24 h before to.")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(alias="to", description="RFC 3339; default now.")
    ] = None,
) -> CountsOut:
    start, end = checked_range(start, end, bucket)
    kinds = await streams_of(session, thing_id)
    sums: dict[tuple[datetime, str, str], float] = defaultdict(float)
    if kinds:
        if bucket == "hour":
            rows = await session.execute(
                select(
                    ObservationHourly.bucket, ObservationHourly.datastream_id, ObservationHourly.sum
                ).where(
                    ObservationHourly.datastream_id.in_(kinds),
                    ObservationHourly.bucket >= start,
                    ObservationHourly.bucket < end,
                )
            )
        else:
            rows = await session.execute(
                FIFTEEN_MINUTES, {"ids": list(kinds), "start": start, "end": end}
            )
        for moment, stream_id, total in rows.all():
            sums[(moment, *kinds[stream_id])] += total
    items = [
        CountOut(start=moment, mode=mode, direction=direction, count=round(total))
        for (moment, mode, direction), total in sorted(sums.items())
    ]
    return CountsOut(thing_id=thing_id, bucket=bucket, start=start, end=end, items=items)


# -- comparison --------------------------------------------------------------------------------


class WeekRange(BaseModel):
    start: date
    end: date
    """Inclusive."""


class ModeComparison(BaseModel):
    mode: str
    this_week: int
    last_week: int
    change_percent: float | None
    """``null`` when last week had nothing to compare with."""


class BusyHour(BaseModel):
    hour: int
    """Hour of the day, Europe/Berlin (17 = 17:00-18:00)."""
    count: int


class TrafficComparison(BaseModel):
    thing_id: int | None
    date: date
    this_week: WeekRange
    last_week: WeekRange
    modes: list[ModeComparison]
    busiest_hours: list[BusyHour]
    """This week's three busiest hours of the day, all modes together."""


async def _totals(
    session: AsyncSession, kinds: dict[int, tuple[str, str]], first: date, last: date
) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    if not kinds:
        return totals
    rows = await session.execute(
        select(ObservationDaily.datastream_id, func.sum(ObservationDaily.sum))
        .where(
            ObservationDaily.datastream_id.in_(kinds),
            ObservationDaily.day >= first,
            ObservationDaily.day <= last,
        )
        .group_by(ObservationDaily.datastream_id)
    )
    for stream_id, total in rows.all():
        totals[kinds[stream_id][0]] += total
    return totals


BUSIEST_HOURS = text(
    """
SELECT extract(hour FROM bucket AT TIME ZONE 'Europe/Berlin')::int AS hour, sum(sum) AS count
FROM observations_hourly
WHERE datastream_id = ANY(:ids) AND bucket >= :start AND bucket < :end
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3
"""
)


@router.get("/comparison", summary="This week against last week, and the busiest hours")
async def traffic_comparison(
    session: DbSession,
    principal: MayRead,
    thing_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    day: Annotated[
        date | None,
        Query(alias="date", description="A day of 'this week' (Europe/Berlin); default today."),
    ] = None,
) -> TrafficComparison:
    """Monday to ``date`` of its week against the same weekdays of the week before, so a
    Wednesday compares three days with three days, not with a whole week."""
    day = day or today_in_berlin()
    monday = day - timedelta(days=day.weekday())
    before, before_day = monday - timedelta(days=7), day - timedelta(days=7)
    kinds = await streams_of(session, thing_id)
    this_week = await _totals(session, kinds, monday, day)
    last_week = await _totals(session, kinds, before, before_day)
    modes = []
    for mode in Mode:
        now_count, then_count = round(this_week[mode.value]), round(last_week[mode.value])
        change = round(100 * (now_count - then_count) / then_count, 1) if then_count else None
        modes.append(
            ModeComparison(
                mode=mode.value, this_week=now_count, last_week=then_count, change_percent=change
            )
        )
    busiest: list[BusyHour] = []
    if kinds:
        rows = await session.execute(
            BUSIEST_HOURS,
            {
                "ids": list(kinds),
                "start": berlin_midnight(monday),
                "end": berlin_midnight(day + timedelta(days=1)),
            },
        )
        busiest = [BusyHour(hour=hour, count=round(count)) for hour, count in rows.all()]
    return TrafficComparison(
        thing_id=thing_id,
        date=day,
        this_week=WeekRange(start=monday, end=day),
        last_week=WeekRange(start=before, end=before_day),
        modes=modes,
        busiest_hours=busiest,
    )
