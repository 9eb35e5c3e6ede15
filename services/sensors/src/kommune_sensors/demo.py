"""Demo data for ``make up``: ``python -m kommune_sensors.demo`` (uses ``SENSORS_DATABASE_URL``).

Three weeks of simulated readings (:mod:`kommune_sensors.simulator`, seed 2026) for the
Heidenheim pilots: the Grabenstraße camera and the Hauptstraße WLAN counter, two underground
containers in each of the city's districts, two schoolyards with some night episodes. Things and
datastreams are created through the service layer; readings go through the writer's own
statement (roll-ups, latest values, counts) and then the alert rules, so the dashboard, the
collection plan and the alerts list show what real readings would have produced.

A demo thing is recognised by ``properties.demo_key`` (sensors have integer ids, so the uuid
scheme of :class:`kommune.demo.DemoLoader` does not fit). Loading again keeps every thing and
datastream; readings are written only into datastreams that have none yet (a second load on
another day would otherwise splice a different simulated history into the first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.auth.principal import Principal, Role
from kommune.db import asyncpg_dsn, transaction
from kommune.demo import DemoLoader, run_demo
from kommune_sensors.alerts.service import evaluate_fill_levels
from kommune_sensors.devices.models import Datastream, DatastreamKind, Thing
from kommune_sensors.devices.schemas import (
    DatastreamCreate,
    LocationIn,
    ObservedPropertyIn,
    SensorIn,
    ThingCreate,
    UnitIn,
)
from kommune_sensors.devices.service import DeviceService
from kommune_sensors.ingestion.writer import Row, store
from kommune_sensors.schoolyards.service import evaluate_schoolyards
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.simulator import SimThing, Simulation, simulate

DEMO_SEED = 2026
DEMO_DAYS = 21
LOADER = Principal(sub="sensors-demo", roles=frozenset({Role.OPERATOR.value}), name="Demo")
SENSORS = {"waste": "Ultraschall-Füllstandssensor", "traffic": "Zählsensor"}


@dataclass(slots=True)
class Loaded:
    things: dict[str, int] = field(default_factory=dict)
    """Thing id per simulated thing key."""
    streams: dict[str, int] = field(default_factory=dict)
    """Datastream id per simulated stream key."""
    created: int = 0
    readings: int = 0


async def _ensure_thing(
    session: AsyncSession, sim_thing: SimThing, prefix: str, loaded: Loaded
) -> None:
    demo_key = f"{prefix}{sim_thing.key}"
    thing_id = await session.scalar(
        select(Thing.id).where(Thing.properties["demo_key"].astext == demo_key).limit(1)
    )
    service = DeviceService(session)
    if thing_id is None:
        thing = await service.create_thing(
            LOADER,
            ThingCreate(
                name=sim_thing.name,
                district=sim_thing.district,
                published=sim_thing.role == "traffic",
                properties={"demo_key": demo_key, "pilot": sim_thing.role},
                location=LocationIn(name=sim_thing.name, lat=sim_thing.lat, lon=sim_thing.lon),
            ),
        )
        thing_id = thing.id
        loaded.created += 1
    loaded.things[sim_thing.key] = thing_id
    existing = {
        stream.name: stream.id
        for stream in (
            await session.scalars(select(Datastream).where(Datastream.thing_id == thing_id))
        ).all()
    }
    for sim_stream in sim_thing.streams:
        stream_id = existing.get(sim_stream.name)
        if stream_id is None:
            created = await service.create_datastream(
                LOADER,
                thing_id,
                DatastreamCreate(
                    name=sim_stream.name,
                    kind=DatastreamKind(sim_stream.kind),
                    unit=UnitIn(
                        name="percent" if sim_stream.unit_symbol == "%" else "count",
                        symbol=sim_stream.unit_symbol,
                        definition="http://unitsofmeasure.org/ucum.html",
                    ),
                    observed_property=ObservedPropertyIn(
                        name=sim_stream.property_name, definition=sim_stream.definition
                    ),
                    sensor=SensorIn(name=SENSORS.get(sim_thing.role, "WLAN-Gerätezähler")),
                ),
            )
            stream_id = created.id
        loaded.streams[sim_stream.key] = stream_id


async def load_simulation(
    sessions: async_sessionmaker[AsyncSession],
    settings: SensorsSettings,
    simulation: Simulation,
    *,
    prefix: str = "",
) -> Loaded:
    """Create the simulation's things (once), store its readings, run the alert rules."""
    loaded = Loaded()
    for sim_thing in simulation.things:
        async with transaction(sessions) as session:
            await _ensure_thing(session, sim_thing, prefix, loaded)
    async with transaction(sessions) as session:
        empty = set(
            (
                await session.scalars(
                    select(Datastream.id).where(
                        Datastream.id.in_(loaded.streams.values()),
                        Datastream.latest_phenomenon_time.is_(None),
                    )
                )
            ).all()
        )
    rows: list[Row] = [
        (loaded.streams[key], moment, value, None)
        for key, values in simulation.readings.items()
        if loaded.streams[key] in empty
        for moment, value in values
    ]
    conn = await asyncpg.connect(
        asyncpg_dsn(settings.database_url), server_settings={"timezone": "UTC"}
    )
    try:
        known: set[date] = set()
        for start in range(0, len(rows), 20_000):
            stored = await store(conn, rows[start : start + 20_000], known)
            loaded.readings += stored.count
            # Only each container's newest level: a container full now gets its open alert;
            # replaying weeks of episodes would stamp them all "now" (the waste rule's clock)
            # and send subscribers a burst of alerts raised and resolved at once.
            newest = {stream: levels[-1:] for stream, levels in stored.fill_levels.items()}
            if newest:
                async with transaction(sessions) as session:
                    await evaluate_fill_levels(session, newest, settings.waste_full_threshold)
    finally:
        await conn.close()
    await evaluate_schoolyards(sessions, settings)
    return loaded


async def load(loader: DemoLoader) -> None:
    settings = SensorsSettings()
    simulation = simulate(DEMO_SEED, datetime.now(UTC), days=DEMO_DAYS)
    loaded = await load_simulation(loader.sessionmaker, settings, simulation)
    loader.created["things"] += loaded.created
    loader.kept["things"] += len(loaded.things) - loaded.created
    loader.created["observations"] += loaded.readings


if __name__ == "__main__":
    run_demo(SensorsSettings, load, __file__)
