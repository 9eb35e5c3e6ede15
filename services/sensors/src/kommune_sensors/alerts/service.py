"""Waste containers: one alert per episode above the threshold, resolved when it is emptied.

The writer calls :func:`evaluate_fill_levels` after each stored batch with the fill levels it
newly stored, per container datastream in time order. Starting from the stored state (an open
alert or none), the readings run through a two-state machine: at or above the threshold without
an open alert raises one (a container at 85, 90, 95 % is one episode and one alert, whether the
readings come in one batch or many); below it with an open alert (the truck emptied it)
resolves it, and the next crossing is a new episode.
The alert row and its event (outbox) commit together; the open-alert unique index makes a
second writer's attempt for the same episode fail instead of raising twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.outbox import Outbox
from kommune_schemas.generated.sensors import Location as EventLocation
from kommune_sensors.alerts.models import Alert
from kommune_sensors.clock import utc_now
from kommune_sensors.devices.models import (
    Datastream,
    DatastreamKind,
    Location,
    Thing,
    ThingLocation,
)
from kommune_sensors.events import (
    ALERT_RAISED,
    ALERT_RESOLVED,
    SOURCE,
    AlertKind,
    AlertRaisedV1,
    AlertResolvedV1,
    alert_event,
)

log = structlog.get_logger(__name__)

WASTE_FULL = AlertKind.WASTE_CONTAINER_FULL


async def evaluate_fill_levels(
    session: AsyncSession, fill_levels: Mapping[int, list[float]], threshold: float
) -> tuple[int, int]:
    """Raise or resolve container alerts; returns how many were (raised, resolved)."""
    ids = sorted(fill_levels)
    if not ids:
        return 0, 0
    rows = (
        await session.execute(
            select(Datastream, Thing, Alert)
            .join(Thing, Thing.id == Datastream.thing_id)
            .outerjoin(
                Alert,
                (Alert.datastream_id == Datastream.id)
                & (Alert.kind == WASTE_FULL.value)
                & Alert.resolved_at.is_(None),
            )
            .where(
                Datastream.id.in_(ids),
                Datastream.kind == DatastreamKind.FILL_LEVEL.value,
            )
            .with_for_update(of=Datastream)
        )
    ).all()
    outbox = Outbox(session, SOURCE)
    raised = resolved = 0
    for stream, thing, found in rows:
        open_alert: Alert | None = found
        for level in fill_levels[stream.id]:
            if open_alert is None and level >= threshold:
                open_alert = await _raise(session, outbox, stream, thing, level, threshold)
                raised += open_alert is not None
            elif open_alert is not None and level < threshold:
                await _resolve(session, outbox, open_alert)
                open_alert = None
                resolved += 1
    await session.flush()
    return raised, resolved


async def _raise(
    session: AsyncSession,
    outbox: Outbox,
    stream: Datastream,
    thing: Thing,
    level: float,
    threshold: float,
) -> Alert | None:
    return await raise_alert(
        session,
        outbox,
        kind=WASTE_FULL,
        thing=thing,
        datastream_id=stream.id,
        value=level,
        threshold=threshold,
        raised_at=utc_now(),
    )


async def raise_alert(
    session: AsyncSession,
    outbox: Outbox,
    *,
    kind: AlertKind,
    thing: Thing,
    datastream_id: int,
    value: float,
    threshold: float,
    raised_at: datetime,
) -> Alert | None:
    """A new open alert and its ``raised`` event (outbox); ``None`` if the thing has no place."""
    location = await _location_of(session, thing.id)
    if location is None:
        log.warning("alert_thing_without_location", thing_id=thing.id, kind=kind.value)
        return None
    alert = Alert(
        id=uuid.uuid4(),
        kind=kind.value,
        thing_id=thing.id,
        datastream_id=datastream_id,
        value=value,
        threshold=threshold,
        raised_at=raised_at,
    )
    session.add(alert)
    payload = AlertRaisedV1(
        alert_id=alert.id,
        kind=kind,
        thing_id=thing.id,
        thing_name=thing.name,
        location=EventLocation(lat=location.latitude, lon=location.longitude),
        district=thing.district,
        value=value,
        threshold=threshold,
        raised_at=alert.raised_at,
    )
    await outbox.add(alert_event(ALERT_RAISED, alert.id, payload, subject=str(alert.id)))
    await session.flush()
    return alert


async def _resolve(session: AsyncSession, outbox: Outbox, alert: Alert) -> None:
    await resolve_alert(session, outbox, alert, utc_now())


async def resolve_alert(
    session: AsyncSession, outbox: Outbox, alert: Alert, resolved_at: datetime
) -> None:
    """Close ``alert`` and send its ``resolved`` event (outbox)."""
    alert.resolved_at = resolved_at
    await session.flush()  # closed before a new episode's alert takes the open slot
    await outbox.add(
        alert_event(
            ALERT_RESOLVED,
            alert.id,
            AlertResolvedV1(alert_id=alert.id, resolved_at=resolved_at),
            subject=str(alert.id),
        )
    )


async def _location_of(session: AsyncSession, thing_id: int) -> Location | None:
    result = await session.execute(
        select(Location)
        .join(ThingLocation, ThingLocation.location_id == Location.id)
        .where(ThingLocation.thing_id == thing_id)
        .order_by(Location.id)
        .limit(1)
    )
    return result.scalar_one_or_none()
