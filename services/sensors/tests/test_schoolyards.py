"""Schoolyards at night: the window in local time across the clock changes, the episode rule,
and one alert per episode from stored readings (a night that loses an hour)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from kommune.db import create_sessionmaker, transaction
from kommune.testing.service import Db, Personas
from kommune_sensors.schoolyards.night import Episodes, NightRule
from kommune_sensors.schoolyards.service import (
    SCHOOLYARD_DEFINITION,
    evaluate_schoolyards,
    evaluate_stream,
    night_rule,
)
from kommune_sensors.settings import SensorsSettings

from .conftest import Api
from .readings import datastream, store_readings

BERLIN = ZoneInfo("Europe/Berlin")
RULE = NightRule(
    start=time(22),
    end=time(6),
    zone=BERLIN,
    level=10,
    intervals=3,
    max_gap=timedelta(minutes=30),
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "night"),
    [
        ("2026-10-24T20:30", True),  # 22:30 CEST (summer time, UTC+2)
        ("2026-10-24T19:59", False),  # 21:59 CEST
        ("2026-10-25T20:30", False),  # 21:30 CET: the same UTC time a day later is evening
        ("2026-10-25T21:00", True),  # 22:00 CET
        ("2026-10-25T00:30", True),  # 02:30 CEST, the first of the two 02:30s
        ("2026-10-25T01:30", True),  # 02:30 CET, the second
        ("2026-10-25T04:30", True),  # 05:30 CET
        ("2026-10-25T05:00", False),  # 06:00 CET: night is over
        ("2027-03-28T03:59", True),  # 05:59 CEST after the spring change
        ("2027-03-28T04:00", False),  # 06:00 CEST
        ("2027-03-28T05:00", False),  # what a fixed UTC+1 would still call 06:00
    ],
)
def test_the_night_is_local_time_across_the_clock_changes(moment: str, night: bool) -> None:
    assert RULE.is_night(utc(moment)) is night


def test_a_daytime_window_and_the_level() -> None:
    rule = NightRule(time(9), time(17), BERLIN, 10, 1, timedelta(minutes=30))
    assert rule.is_night(utc("2026-07-01T08:00"))  # 10:00 CEST
    assert not rule.is_night(utc("2026-07-01T15:00"))  # 17:00 CEST
    assert not RULE.is_active(utc("2026-07-01T22:00"), 10)  # at the level is not above it
    assert RULE.is_active(utc("2026-07-01T22:00"), 11)


def run(episodes: Episodes, start: datetime, counts: list[float], step: int = 15) -> list[str]:
    actions: list[str] = []
    for i, count in enumerate(counts):
        actions += [f"{i}:{a}" for a in episodes.step(start + timedelta(minutes=step * i), count)]
    return actions


def test_the_episode_rule() -> None:
    night = utc("2026-11-10T22:00")  # 23:00 CET
    fresh = Episodes(RULE, None, 0, open=False)
    # two busy intervals are no episode; three are one; a dip ends it; the next run is another
    assert run(fresh, night, [0, 20, 30, 0, 15, 15, 15, 40, 40, 2, 12, 12, 12]) == [
        "6:raise",
        "9:resolve",
        "12:raise",
    ]
    # a silent sensor (a gap over 30 minutes) ends an episode; the run starts again
    gap = Episodes(RULE, None, 0, open=False)
    assert run(gap, night, [20, 20, 20, 20]) == ["2:raise"]
    assert gap.step(night + timedelta(minutes=100), 20) == ["resolve"]
    one = Episodes(
        NightRule(time(22), time(6), BERLIN, 10, 1, timedelta(minutes=30)), None, 0, False
    )
    assert one.step(night, 20) == ["raise"]
    assert one.step(night + timedelta(hours=2), 20) == ["resolve", "raise"]
    # an episode running into the morning ends at 06:00 local
    morning = Episodes(RULE, None, 0, open=False)
    assert run(morning, utc("2026-11-11T04:15"), [20] * 6) == ["2:raise", "3:resolve"]


def test_settings_refuse_a_bad_zone_or_weekday() -> None:
    with pytest.raises(ValidationError):
        SensorsSettings(schoolyard_timezone="Europe/Heidenheim")
    with pytest.raises(ValidationError):
        SensorsSettings(waste_collection_weekdays=[7])
    with pytest.raises(ValidationError):
        SensorsSettings(schoolyard_intervals=0)
    assert SensorsSettings(waste_collection_weekdays=[3, 0, 3]).waste_collection_weekdays == [0, 3]


async def test_a_night_that_loses_an_hour_raises_once_and_ends_at_six(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db, settings: SensorsSettings
) -> None:
    """27/28 March 2027: 22:00 CET is 21:00 UTC, 06:00 CEST is 04:00 UTC. Devices from 02:00 to
    05:00 UTC: the alert comes with the third busy interval and is resolved at 04:00 UTC, not at
    05:00 (what a fixed UTC+1 would say)."""
    yard = await api.thing(
        name=f"Schulhof Test {uuid.uuid4().hex[:4]}",
        district="Schnaitheim",
        location={"name": "Schulhof", "lat": 48.7031, "lon": 10.1688},
    )
    stream = await datastream(client, people, yard["id"], "count", SCHOOLYARD_DEFINITION)
    start = utc("2027-03-27T20:00")
    readings = []
    for i in range(4 * 10):
        moment = start + timedelta(minutes=15 * i)
        busy = utc("2027-03-28T02:00") <= moment < utc("2027-03-28T05:00")
        readings.append((stream, moment, 25.0 if busy else 1.0))
    await store_readings(db, readings)
    sessions = create_sessionmaker(db.engine)
    await evaluate_schoolyards(sessions, settings)
    again = await evaluate_schoolyards(sessions, settings)  # nothing new: nothing happens
    assert again == (0, 0)
    alerts = await db.rows(
        "SELECT raised_at, resolved_at, value FROM alerts WHERE datastream_id = :id", id=stream
    )
    assert alerts == [
        {
            "raised_at": utc("2027-03-28T02:30"),
            "resolved_at": utc("2027-03-28T04:00"),
            "value": 25.0,
        }
    ]
    # readings that arrive later continue the watermark: a new busy night is a new episode
    await store_readings(
        db, [(stream, utc("2027-03-28T21:00") + timedelta(minutes=15 * i), 30.0) for i in range(3)]
    )
    async with transaction(sessions) as session:
        await evaluate_stream(session, stream, night_rule(settings))
    count = await db.scalar(
        "SELECT count(*) FROM alerts WHERE datastream_id = :id AND resolved_at IS NULL", id=stream
    )
    assert count == 1
