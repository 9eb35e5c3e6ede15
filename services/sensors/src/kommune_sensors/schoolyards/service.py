"""Evaluate the schoolyards' new readings: raise and resolve ``schoolyard_night_activity``.

A schoolyard datastream is a ``count`` datastream whose observed property's definition is
:data:`SCHOOLYARD_DEFINITION` (mobile devices present: a count, never an identifier). Each
datastream is evaluated in a transaction of its own that first locks its
:class:`~kommune_sensors.schoolyards.models.SchoolyardWatch` row: two replicas never evaluate the
same readings, and the watermark, the run and the alert commit together, so an episode raises
exactly one alert whatever crashes or runs twice. ``raised_at``/``resolved_at`` are the times of
the readings that started and ended the episode.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.db import transaction
from kommune.events.outbox import Outbox
from kommune_sensors.alerts.models import Alert
from kommune_sensors.alerts.service import raise_alert, resolve_alert
from kommune_sensors.devices.models import Datastream, DatastreamKind, ObservedProperty, Thing
from kommune_sensors.events import SOURCE, AlertKind
from kommune_sensors.ingestion.models import Observation
from kommune_sensors.schoolyards.models import SchoolyardWatch
from kommune_sensors.schoolyards.night import Episodes, NightRule
from kommune_sensors.settings import SensorsSettings

SCHOOLYARD_DEFINITION = "https://kommune.heidenheim.de/def/schoolyard/devices-present"
NIGHT_ACTIVITY = AlertKind.SCHOOLYARD_NIGHT_ACTIVITY
BATCH = 5000


def night_rule(settings: SensorsSettings) -> NightRule:
    return NightRule(
        start=settings.schoolyard_night_start,
        end=settings.schoolyard_night_end,
        zone=ZoneInfo(settings.schoolyard_timezone),
        level=settings.schoolyard_level,
        intervals=settings.schoolyard_intervals,
        max_gap=timedelta(minutes=settings.schoolyard_max_gap_minutes),
    )


async def schoolyard_streams(session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(Datastream.id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .where(
            ObservedProperty.definition == SCHOOLYARD_DEFINITION,
            Datastream.kind == DatastreamKind.COUNT.value,
        )
        .order_by(Datastream.id)
    )
    return list(rows.all())


async def evaluate_schoolyards(
    sessions: async_sessionmaker[AsyncSession], settings: SensorsSettings
) -> tuple[int, int]:
    """Evaluate every schoolyard datastream's new readings; returns (raised, resolved)."""
    async with transaction(sessions) as session:
        stream_ids = await schoolyard_streams(session)
    rule = night_rule(settings)
    raised = resolved = 0
    for stream_id in stream_ids:
        async with transaction(sessions) as session:
            up, down = await evaluate_stream(session, stream_id, rule)
        raised, resolved = raised + up, resolved + down
    return raised, resolved


async def evaluate_stream(
    session: AsyncSession, stream_id: int, rule: NightRule
) -> tuple[int, int]:
    await session.execute(
        insert(SchoolyardWatch)
        .values(datastream_id=stream_id, run_length=0)
        .on_conflict_do_nothing()
    )
    watch = await session.get(
        SchoolyardWatch, stream_id, with_for_update=True, populate_existing=True
    )
    thing = await session.scalar(
        select(Thing)
        .join(Datastream, Datastream.thing_id == Thing.id)
        .where(Datastream.id == stream_id)
    )
    if watch is None or thing is None:  # deleted meanwhile
        return 0, 0
    open_alert = await session.scalar(
        select(Alert).where(
            Alert.datastream_id == stream_id,
            Alert.kind == NIGHT_ACTIVITY.value,
            Alert.resolved_at.is_(None),
        )
    )
    episodes = Episodes(rule, watch.evaluated_until, watch.run_length, open_alert is not None)
    outbox = Outbox(session, SOURCE)
    raised = resolved = 0
    while True:
        statement = (
            select(Observation.phenomenon_time, Observation.result)
            .where(Observation.datastream_id == stream_id)
            .order_by(Observation.phenomenon_time)
            .limit(BATCH)
        )
        if watch.evaluated_until is not None:
            statement = statement.where(Observation.phenomenon_time > watch.evaluated_until)
        readings = (await session.execute(statement)).all()
        for moment, count in readings:
            for action in episodes.step(moment, count):
                if action == "resolve" and open_alert is not None:
                    await resolve_alert(session, outbox, open_alert, moment)
                    open_alert = None
                    resolved += 1
                elif action == "raise":
                    open_alert = await raise_alert(
                        session,
                        outbox,
                        kind=NIGHT_ACTIVITY,
                        thing=thing,
                        datastream_id=stream_id,
                        value=count,
                        threshold=rule.level,
                        raised_at=moment,
                    )
                    raised += open_alert is not None
            watch.evaluated_until = moment
        watch.run_length = episodes.run_length
        await session.flush()
        if len(readings) < BATCH:
            return raised, resolved
