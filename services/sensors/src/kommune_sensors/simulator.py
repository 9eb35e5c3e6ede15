"""A deterministic simulator of the Heidenheim pilots' readings (demo data and tests).

``simulate(seed, end, days)`` gives the same things and readings for the same arguments on every
machine (one ``random.Random(seed)``, no clock): the Grabenstraße counting camera and the
Hauptstraße WLAN counter (pedestrians, bicycles, cars in and out, every 15 minutes, with morning
and evening peaks and quieter weekends), underground waste containers across Heidenheim's
districts (hourly fill levels rising at each container's own rate, emptied on collection days
when worth it) and two schoolyards (devices present every 15 minutes: busy in school hours, quiet
at night except for a few planned night episodes, and one short run that is *not* an episode).

Alongside the readings it keeps the truth the tests check the service against: each container's
true rate and level at ``end``, and the planned night episodes. Coordinates are approximate
points in each district, good for a map and a route, not for a survey.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from kommune_sensors.districts import CENTRES
from kommune_sensors.schoolyards.service import SCHOOLYARD_DEFINITION
from kommune_sensors.traffic.streams import Mode, traffic_definition

BERLIN = ZoneInfo("Europe/Berlin")
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
FILL_DEFINITION = "https://kommune.heidenheim.de/def/waste/fill-level"
COLLECTION_WEEKDAYS = (0, 3)
"""The simulated truck empties on Mondays and Thursdays (the service's default too)."""
EMPTY_IF_ABOVE = 55.0


@dataclass(frozen=True, slots=True)
class SimStream:
    key: str
    name: str
    kind: str
    """``fill_level`` or ``count``."""
    definition: str
    property_name: str
    unit_symbol: str


@dataclass(frozen=True, slots=True)
class SimThing:
    key: str
    name: str
    district: str
    lat: float
    lon: float
    role: str
    """``waste``, ``traffic`` or ``schoolyard``."""
    streams: tuple[SimStream, ...]


@dataclass(frozen=True, slots=True)
class ContainerTruth:
    rate_per_day: float
    level_at_end: float
    last_emptied_at: datetime | None


@dataclass(frozen=True, slots=True)
class NightEpisode:
    thing_key: str
    start: datetime
    intervals: int
    """Readings above the level in a row, all at night."""


@dataclass(slots=True)
class Simulation:
    end: datetime
    things: list[SimThing] = field(default_factory=list)
    readings: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    """Per stream key, in time order."""
    containers: dict[str, ContainerTruth] = field(default_factory=dict)
    episodes: list[NightEpisode] = field(default_factory=list)
    near_misses: list[NightEpisode] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(values) for values in self.readings.values())


def _grid(end: datetime, days: int, step: timedelta) -> list[datetime]:
    last = datetime.fromtimestamp(
        math.floor(end.timestamp() / step.total_seconds()) * step.total_seconds(), end.tzinfo
    )
    first = last - timedelta(days=days)
    return [first + step * i for i in range(int((last - first) / step) + 1)]


def _count_stream(thing_key: str, mode: Mode, direction: str) -> SimStream:
    names = {Mode.PEDESTRIAN: "Fußgänger", Mode.BICYCLE: "Radfahrer", Mode.CAR: "Kfz"}
    way = "stadteinwärts" if direction == "in" else "stadtauswärts"
    return SimStream(
        key=f"{thing_key}/{mode.value}-{direction}",
        name=f"{names[mode]} {way}",
        kind="count",
        definition=traffic_definition(mode, direction),
        property_name=f"{names[mode]} ({direction})",
        unit_symbol="{count}",
    )


# ---- traffic ---------------------------------------------------------------------------------

TRAFFIC_SITES = (
    (
        "traffic/grabenstrasse",
        "Zählkamera Grabenstraße",
        "Innenstadt",
        48.6783,
        10.1519,
        {Mode.PEDESTRIAN: 60.0, Mode.BICYCLE: 14.0, Mode.CAR: 45.0},
    ),
    (
        "traffic/hauptstrasse",
        "WLAN-Zählung Hauptstraße",
        "Innenstadt",
        48.6772,
        10.1528,
        {Mode.PEDESTRIAN: 110.0, Mode.BICYCLE: 9.0, Mode.CAR: 6.0},
    ),
)


def _daily_profile(local: datetime) -> float:
    """Share of the peak at a local time: morning and evening peaks, quiet nights."""
    hour = local.hour + local.minute / 60
    morning = math.exp(-((hour - 8.0) ** 2) / 2.0)
    evening = math.exp(-((hour - 17.0) ** 2) / 3.0)
    midday = 0.5 * math.exp(-((hour - 12.5) ** 2) / 6.0)
    weekend = 0.6 if local.weekday() >= 5 else 1.0
    return weekend * max(0.02, morning + evening + midday)


def _simulate_traffic(sim: Simulation, rng: random.Random, days: int) -> None:
    times = _grid(sim.end, days, QUARTER)
    for key, name, district, lat, lon, peaks in TRAFFIC_SITES:
        streams = tuple(
            _count_stream(key, mode, direction) for mode in Mode for direction in ("in", "out")
        )
        sim.things.append(SimThing(key, name, district, lat, lon, "traffic", streams))
        for stream in streams:
            mode = Mode(stream.key.rsplit("/", 1)[1].split("-")[0])
            values = []
            for moment in times:
                mean = peaks[mode] * _daily_profile(moment.astimezone(BERLIN))
                values.append((moment, float(max(0, round(rng.gauss(mean, math.sqrt(mean)))))))
            sim.readings[stream.key] = values


# ---- waste -----------------------------------------------------------------------------------


def _simulate_waste(sim: Simulation, rng: random.Random, days: int) -> None:
    """Hourly levels; on collection days at 09:00 the truck empties what is above 55 %, but now
    and then misses one, and one container (a jammed flap) is never emptied at all."""
    times = _grid(sim.end, days, HOUR)
    jammed = rng.randrange(len(CENTRES) * 2)
    for position, (district, (lat, lon)) in enumerate(CENTRES.items()):
        for number in (1, 2):
            slug = district.lower().replace(" ", "-").replace("ß", "ss")
            key = f"waste/{slug}-{number}"
            stream = SimStream(
                key=f"{key}/fill",
                name="Füllstand",
                kind="fill_level",
                definition=FILL_DEFINITION,
                property_name="Füllstand",
                unit_symbol="%",
            )
            sim.things.append(
                SimThing(
                    key,
                    f"Unterflurbehälter {district} {number}",
                    district,
                    round(lat + rng.uniform(-0.004, 0.004), 5),
                    round(lon + rng.uniform(-0.006, 0.006), 5),
                    "waste",
                    (stream,),
                )
            )
            never_emptied = position * 2 + number - 1 == jammed
            rate = round(rng.uniform(15.0 if never_emptied else 4.0, 28.0), 2)  # points per day
            level = rng.uniform(5.0, 60.0)
            values = []
            emptied_at = None
            for moment in times:
                local = moment.astimezone(BERLIN)
                if (
                    local.weekday() in COLLECTION_WEEKDAYS
                    and local.hour == 9
                    and level >= EMPTY_IF_ABOVE
                    and not never_emptied
                    and rng.random() < 0.85
                ):
                    level = rng.uniform(1.0, 5.0)
                    emptied_at = moment
                level = min(100.0, level + rate / 24)
                shown = min(100.0, max(0.0, level + rng.uniform(-0.8, 0.8)))
                values.append((moment, round(shown, 1)))
            sim.readings[stream.key] = values
            sim.containers[key] = ContainerTruth(rate, level, emptied_at)


# ---- schoolyards -----------------------------------------------------------------------------

SCHOOLYARDS = (
    ("schoolyard/ostschule", "Schulhof Ostschule", "Innenstadt", 48.6788, 10.1622),
    ("schoolyard/schnaitheim", "Schulhof Schnaitheim", "Schnaitheim", 48.7031, 10.1688),
)
NIGHT_LEVEL = 10.0
"""Devices above which a simulated night interval is busy (the service's default level)."""
EPISODE_INTERVALS = 3
"""The service's default: three busy intervals in a row make an episode."""


def _school_count(local: datetime, rng: random.Random) -> float:
    hour = local.hour + local.minute / 60
    if local.weekday() < 5 and 7.5 <= hour < 16:
        return float(rng.randint(60, 240))
    if 16 <= hour < 21:
        return float(rng.randint(0, 12))
    return float(rng.randint(0, 4))  # night and early morning: a passer-by at most


def _simulate_schoolyards(sim: Simulation, rng: random.Random, days: int) -> None:
    times = _grid(sim.end, days, QUARTER)
    index = {moment: i for i, moment in enumerate(times)}
    for number, (key, name, district, lat, lon) in enumerate(SCHOOLYARDS):
        stream = SimStream(
            key=f"{key}/devices",
            name="Anwesende Mobilgeräte",
            kind="count",
            definition=SCHOOLYARD_DEFINITION,
            property_name="Mobilgeräte anwesend",
            unit_symbol="{count}",
        )
        sim.things.append(SimThing(key, name, district, lat, lon, "schoolyard", (stream,)))
        values = [(moment, _school_count(moment.astimezone(BERLIN), rng)) for moment in times]
        # Episodes: nights 1 and 4 (and 6 for the second yard) before the end, starting at
        # 23:00 or 00:30 local, 4 to 9 busy intervals; a near miss of two intervals on night 2.
        plans = [(1, time(23, 0), rng.randint(4, 9)), (4, time(0, 30), rng.randint(4, 9))]
        if number == 1:
            plans.append((6, time(1, 15), rng.randint(4, 9)))
        near = (2, time(23, 30), EPISODE_INTERVALS - 1)
        for nights_back, start_time, length in [*plans, near]:
            day = (sim.end.astimezone(BERLIN) - timedelta(days=nights_back)).date()
            start = datetime.combine(day, start_time, tzinfo=BERLIN).astimezone(sim.end.tzinfo)
            if start not in index or index[start] + length >= len(times):
                continue
            for i in range(index[start], index[start] + length):
                values[i] = (times[i], float(rng.randint(15, 45)))
            episode = NightEpisode(key, start, length)
            (sim.near_misses if length < EPISODE_INTERVALS else sim.episodes).append(episode)
        sim.readings[stream.key] = values


def simulate(seed: int, end: datetime, days: int = 7) -> Simulation:
    """``days`` of readings up to ``end`` (aware), the same for the same arguments."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    rng = random.Random(seed)
    sim = Simulation(end=end)
    _simulate_traffic(sim, rng, days)
    _simulate_waste(sim, rng, days)
    _simulate_schoolyards(sim, rng, days)
    return sim
