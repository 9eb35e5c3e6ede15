"""SensorThings HistoricalLocations: each time a thing gets its location(s), one row."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from kommune_sensors.clock import utc_now
from kommune_sensors.devices.models import HistoricalLocation, HistoricalLocationLocation


async def record_locations(
    session: AsyncSession, thing_id: int, location_ids: Iterable[int]
) -> None:
    """Record that ``thing_id`` is at ``location_ids`` from now on (nothing for no location:
    a HistoricalLocation names at least one)."""
    ids = sorted(set(location_ids))
    if not ids:
        return
    history = HistoricalLocation(thing_id=thing_id, time=utc_now())
    session.add(history)
    await session.flush()
    session.add_all(
        HistoricalLocationLocation(historical_location_id=history.id, location_id=lid)
        for lid in ids
    )
    await session.flush()
