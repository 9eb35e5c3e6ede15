"""The published datasets: what each is, and its rows for a range of days.

Read straight from the roll-up tables the writer keeps (``observations_hourly``,
``observations_daily``) and from the social map, for **published** things only. Counts of people
(traffic) and of help offers/requests are suppressed below :data:`~kommune_sensors.suppression.
MINIMUM` per cell; a fill level counts no one and is published as measured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_sensors.clock import utc_now
from kommune_sensors.devices.models import Datastream, DatastreamKind, ObservedProperty, Thing
from kommune_sensors.ingestion.models import ObservationDaily, ObservationHourly
from kommune_sensors.social.service import monthly, next_month
from kommune_sensors.suppression import publishable

BERLIN = ZoneInfo("Europe/Berlin")
TRAFFIC_DEFINITION = "https://kommune.heidenheim.de/def/traffic/"
"""Observed property of a traffic datastream: ``<this><mode>/<direction>`` (the traffic module's
convention, read here from the data, not from that module)."""

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Dataset:
    identifier: str
    title: str
    description: str
    keywords: tuple[str, ...]
    theme: str
    """EU data theme (``TRAN``, ``ENVI``, ``SOCI``)."""
    periodicity: str
    """EU frequency (``HOURLY``, ``DAILY``, ``MONTHLY``)."""
    columns: tuple[str, ...]
    rows: Callable[[AsyncSession, date, date], Awaitable[Rows]]


def _day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(0), tzinfo=BERLIN)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=BERLIN)
    return start, end


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def traffic_hourly(session: AsyncSession, first: date, last: date) -> Rows:
    start, end = _day_bounds(first, last)
    rest = func.substr(ObservedProperty.definition, len(TRAFFIC_DEFINITION) + 1)
    result = await session.execute(
        select(
            ObservationHourly.bucket,
            Thing.id,
            Thing.name,
            func.split_part(rest, "/", 1),
            func.split_part(rest, "/", 2),
            ObservationHourly.sum,
        )
        .join(Datastream, Datastream.id == ObservationHourly.datastream_id)
        .join(Thing, Thing.id == Datastream.thing_id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .where(
            Thing.published.is_(True),
            Datastream.kind == DatastreamKind.COUNT.value,
            ObservedProperty.definition.startswith(TRAFFIC_DEFINITION, autoescape=True),
            ObservationHourly.bucket >= start,
            ObservationHourly.bucket < end,
        )
        .order_by(ObservationHourly.bucket, Thing.id, Datastream.id)
    )
    rows = []
    for bucket, thing_id, name, mode, direction, total in result.all():
        shown = publishable(total)
        rows.append(
            {
                "hour_start": _iso(bucket),
                "location_id": thing_id,
                "location": name,
                "mode": mode,
                "direction": direction or "total",
                "count": None if shown is None else round(shown),
                "suppressed": shown is None,
            }
        )
    return rows


async def waste_fill_daily(session: AsyncSession, first: date, last: date) -> Rows:
    result = await session.execute(
        select(
            ObservationDaily.day,
            Thing.id,
            Thing.name,
            Thing.district,
            ObservationDaily.count,
            ObservationDaily.sum,
            ObservationDaily.min,
            ObservationDaily.max,
        )
        .join(Datastream, Datastream.id == ObservationDaily.datastream_id)
        .join(Thing, Thing.id == Datastream.thing_id)
        .where(
            Thing.published.is_(True),
            Datastream.kind == DatastreamKind.FILL_LEVEL.value,
            ObservationDaily.day >= first,
            ObservationDaily.day <= last,
        )
        .order_by(ObservationDaily.day, Thing.id, Datastream.id)
    )
    return [
        {
            "date": day.isoformat(),
            "container_id": thing_id,
            "container": name,
            "district": district,
            "readings": count,
            "fill_level_mean": round(total / count, 1) if count else None,
            "fill_level_min": low,
            "fill_level_max": high,
        }
        for day, thing_id, name, district, count, total, low, high in result.all()
    ]


async def social_districts(session: AsyncSession, first: date, last: date) -> Rows:
    """Whole months inside the range that have ended (a month still running is not published:
    its figures would change under the reader's eyes and could be differenced)."""
    this_month = utc_now().astimezone(BERLIN).date().replace(day=1)
    first_month = first if first.day == 1 else next_month(first)
    boundary = min((last + timedelta(days=1)).replace(day=1), this_month)
    """The first month not published: not wholly inside the range, or not over yet."""
    if first_month >= boundary:
        return []
    last_month = (boundary - timedelta(days=1)).replace(day=1)
    return [cell.as_dict() for cell in await monthly(session, first_month, last_month)]


DATASETS: dict[str, Dataset] = {
    dataset.identifier: dataset
    for dataset in (
        Dataset(
            "traffic-hourly",
            "Verkehrszählung Heidenheim: Fußgänger, Fahrräder, Autos pro Stunde",
            "Stündliche Zählungen der Pilot-Zählstellen (Kamera Grabenstraße, WLAN Hauptstraße) "
            "nach Verkehrsart und Richtung. Anonyme Zählwerte; Werte unter 3 sind unterdrückt.",
            ("Verkehr", "Smart City", "Fußgänger", "Radverkehr"),
            "TRAN",
            "HOURLY",
            ("hour_start", "location_id", "location", "mode", "direction", "count", "suppressed"),
            traffic_hourly,
        ),
        Dataset(
            "waste-fill-daily",
            "Füllstände der Unterflur-Müllbehälter pro Tag",
            "Tägliche Füllstände (Prozent: Mittel, Minimum, Maximum) der Unterflurbehälter mit "
            "Ultraschallsensor, je Behälter und Stadtteil.",
            ("Abfall", "Smart City", "Füllstand"),
            "ENVI",
            "DAILY",
            (
                "date",
                "container_id",
                "container",
                "district",
                "readings",
                "fill_level_mean",
                "fill_level_min",
                "fill_level_max",
            ),
            waste_fill_daily,
        ),
        Dataset(
            "social-districts",
            "Ich für uns: Hilfsangebote und -gesuche nach Stadtteil",
            'Anzahl der Hilfsangebote und Hilfsgesuche des Programms "Ich für uns" je Stadtteil '
            "und abgeschlossenem Monat, mit dem Verhältnis Angebot zu Nachfrage. Werte unter 3 "
            "sind unterdrückt.",
            ("Soziales", "Ehrenamt", "Nachbarschaftshilfe"),
            "SOCI",
            "MONTHLY",
            ("month", "district", "offers", "requests", "ratio", "suppressed"),
            social_districts,
        ),
    )
}
