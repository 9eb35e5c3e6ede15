"""``GET /api/v1/waste/containers`` and ``GET /api/v1/waste/collection-plan`` (staff)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import InvalidInput
from kommune.pagination import (
    MAX_CURSOR_LENGTH,
    CursorSigner,
    Ordering,
    PageRequest,
    SortKey,
    fingerprint,
    paginate,
)
from kommune.routing import service_router
from kommune_sensors.access import Permission, requires
from kommune_sensors.clock import utc_now
from kommune_sensors.devices.models import Datastream
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.waste.containers import ContainerState, Point, container_streams, states_of
from kommune_sensors.waste.plan import BERLIN, collection_plan

router = service_router("/api/v1/waste", tags=["waste"])
MayRead = Annotated[Principal, Depends(requires(Permission.READ_DATA))]
BY_THING = Ordering(
    "thing",
    (
        SortKey(Datastream.thing_id, "int", descending=False),
        SortKey(Datastream.id, "int", descending=False),
    ),
)
MAX_CONTAINERS_LIMIT = 500
MAX_PLAN_DAYS_AHEAD = 28
MAX_PLAN_CONTAINERS = 5000


async def container_page(
    request: Request,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CONTAINERS_LIMIT)] = 100,
) -> PageRequest:
    """``?cursor=&limit=`` like every list, but up to 500 (a dashboard's map of all containers)."""
    settings = request.state.settings
    signer = CursorSigner(settings.cursor_key, settings.service_name)
    return PageRequest(cursor=cursor or None, limit=limit, signer=signer)


class PointOut(BaseModel):
    lat: float
    lon: float


class ContainerOut(BaseModel):
    thing_id: int
    datastream_id: int
    name: str
    district: str | None
    location: PointOut | None
    fill_level: float | None
    threshold: float
    above_threshold: bool
    fill_rate_per_day: float | None
    last_emptied_at: datetime | None
    predicted_full_at: datetime | None
    observed_at: datetime | None

    @classmethod
    def of(cls, state: ContainerState) -> ContainerOut:
        location = state.location
        return cls(
            thing_id=state.thing_id,
            datastream_id=state.datastream_id,
            name=state.name,
            district=state.district,
            location=PointOut(lat=location.lat, lon=location.lon) if location else None,
            fill_level=state.fill_level,
            threshold=state.threshold,
            above_threshold=state.above_threshold,
            fill_rate_per_day=state.fill_rate_per_day,
            last_emptied_at=state.last_emptied_at,
            predicted_full_at=state.predicted_full_at,
            observed_at=state.observed_at,
        )


class ContainerPage(BaseModel):
    items: list[ContainerOut]
    next_cursor: str | None
    total: int


@router.get("/containers", summary="Containers: fill level, rate, predicted full")
async def list_containers(
    request: Request,
    session: DbSession,
    principal: MayRead,
    page: Annotated[PageRequest, Depends(container_page)],
    above_threshold: Annotated[
        bool, Query(description="Only containers at or above the threshold.")
    ] = False,
) -> ContainerPage:
    settings: SensorsSettings = request.state.settings
    above = settings.waste_full_threshold if above_threshold else None
    statement = container_streams(above=above)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    streams, next_cursor = await paginate(
        session, statement, BY_THING, page, filters=fingerprint(above_threshold)
    )
    states = await states_of(session, streams, settings, now=utc_now())
    return ContainerPage(
        items=[ContainerOut.of(state) for state in states],
        next_cursor=next_cursor,
        total=int(total or 0),
    )


class PlanStopOut(ContainerOut):
    stop: int | None
    """Position in the route (1 = first after the depot); null: no location, not routed."""
    reason: str
    """``above_threshold`` or ``predicted_full`` (before the next collection day)."""


class CollectionPlanOut(BaseModel):
    next_collection_date: date
    date: date
    depot: PointOut
    distance_km: float
    """Straight-line length of the tour, depot to depot."""
    containers: list[PlanStopOut]


@router.get("/collection-plan", summary="Containers to empty on a day, in route order")
async def get_collection_plan(
    request: Request,
    session: DbSession,
    principal: MayRead,
    day: Annotated[
        date | None,
        Query(alias="date", description="YYYY-MM-DD (Europe/Berlin); default today."),
    ] = None,
) -> CollectionPlanOut:
    settings: SensorsSettings = request.state.settings
    now = utc_now()
    today = now.astimezone(BERLIN).date()
    day = day or today
    if not today <= day <= today + timedelta(days=MAX_PLAN_DAYS_AHEAD):
        raise InvalidInput(
            f"date must be between today ({today}) and {MAX_PLAN_DAYS_AHEAD} days ahead: the "
            "plan is made from the containers' current levels."
        )
    streams = (
        await session.scalars(
            container_streams().order_by(Datastream.id).limit(MAX_PLAN_CONTAINERS)
        )
    ).all()
    states = await states_of(session, streams, settings, now=now)
    depot = Point(settings.waste_depot_lat, settings.waste_depot_lon)
    # the solver holds the CPU for up to seconds with many stops: not on the event loop
    plan = await asyncio.to_thread(
        collection_plan, states, day, settings.waste_collection_weekdays, depot
    )
    return CollectionPlanOut(
        date=plan.day,
        next_collection_date=plan.next_collection_day,
        depot=PointOut(lat=depot.lat, lon=depot.lon),
        distance_km=round(plan.distance_m / 1000, 3),
        containers=[
            PlanStopOut(
                **ContainerOut.of(stop.container).model_dump(),
                stop=stop.position,
                reason=stop.reason,
            )
            for stop in plan.stops
        ],
    )
