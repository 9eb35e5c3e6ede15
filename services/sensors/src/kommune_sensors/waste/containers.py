"""Containers and their state: a thing's ``fill_level`` datastream, latest value, fill cycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_sensors.devices.models import (
    Datastream,
    DatastreamKind,
    Location,
    Thing,
    ThingLocation,
)
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.waste.fill import fill_cycles, predicted_full_at


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ContainerState:
    thing_id: int
    datastream_id: int
    name: str
    district: str | None
    location: Point | None
    fill_level: float | None
    threshold: float
    fill_rate_per_day: float | None
    last_emptied_at: datetime | None
    predicted_full_at: datetime | None
    observed_at: datetime | None

    @property
    def above_threshold(self) -> bool:
        return self.fill_level is not None and self.fill_level >= self.threshold


def container_streams(*, above: float | None = None) -> Select[Any]:
    """The container datastreams (one per item), optionally only those at/above ``above``."""
    conditions: list[ColumnElement[bool]] = [Datastream.kind == DatastreamKind.FILL_LEVEL.value]
    if above is not None:
        conditions.append(Datastream.latest_result >= above)
    return select(Datastream).where(*conditions)


async def states_of(
    session: AsyncSession,
    streams: Sequence[Datastream],
    settings: SensorsSettings,
    *,
    now: datetime,
) -> list[ContainerState]:
    """The state of each container datastream, in the order given (three statements)."""
    if not streams:
        return []
    thing_ids = sorted({stream.thing_id for stream in streams})
    things = {
        thing.id: thing
        for thing in (await session.scalars(select(Thing).where(Thing.id.in_(thing_ids)))).all()
    }
    places: dict[int, Point] = {}
    located = await session.execute(
        select(ThingLocation.thing_id, Location.latitude, Location.longitude)
        .join(Location, Location.id == ThingLocation.location_id)
        .where(ThingLocation.thing_id.in_(thing_ids))
        .order_by(ThingLocation.thing_id, Location.id)
    )
    for thing_id, lat, lon in located.all():
        places.setdefault(thing_id, Point(lat, lon))
    cycles = await fill_cycles(
        session,
        [stream.id for stream in streams],
        now=now,
        history_days=settings.waste_history_days,
        emptying_drop=settings.waste_emptying_drop,
    )
    states = []
    for stream in streams:
        thing = things[stream.thing_id]
        cycle = cycles.get(stream.id)
        rate = cycle.fill_rate_per_day if cycle else None
        states.append(
            ContainerState(
                thing_id=thing.id,
                datastream_id=stream.id,
                name=thing.name,
                district=thing.district,
                location=places.get(thing.id),
                fill_level=stream.latest_result,
                threshold=settings.waste_full_threshold,
                fill_rate_per_day=rate,
                last_emptied_at=cycle.last_emptied_at if cycle else None,
                predicted_full_at=predicted_full_at(
                    stream.latest_result, stream.latest_phenomenon_time, rate
                ),
                observed_at=stream.latest_phenomenon_time,
            )
        )
    return states
