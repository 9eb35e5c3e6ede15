"""A container's fill cycle from its readings: the last emptying, the fill rate, when it is full.

The last emptying is the newest reading that lies at least ``waste_emptying_drop`` points below
the one before it (ultrasonic sensors jitter by a few points; an emptying drops by tens). The
fill rate is the least-squares slope (PostgreSQL's ``regr_slope``) of the readings since then, in
points per day, so one odd reading does not swing it the way first-to-last would. "Full" is
100 %: the threshold says when a container is worth a trip, 100 % when it overflows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FULL = 100.0
SECONDS_PER_DAY = 86_400
MIN_RATE_SPAN = timedelta(hours=6)
"""Readings since the emptying must span this much for a rate: right after an emptying two or
three readings with a sensor's jitter would give any slope at all."""

CYCLES = text(
    """
WITH readings AS (
    SELECT o.datastream_id, o.phenomenon_time AS t, o.result AS v,
           lag(o.result) OVER (PARTITION BY o.datastream_id ORDER BY o.phenomenon_time) AS prev
    FROM observations o
    WHERE o.datastream_id = ANY(:ids) AND o.phenomenon_time >= :since
), cycles AS (
    SELECT datastream_id, t, v,
           max(t) FILTER (WHERE prev - v >= :drop) OVER (PARTITION BY datastream_id) AS emptied_at
    FROM readings
)
SELECT datastream_id, emptied_at, count(*) AS n,
       regr_slope(v, extract(epoch FROM t)) AS slope,
       extract(epoch FROM max(t) - min(t)) AS span
FROM cycles
WHERE emptied_at IS NULL OR t >= emptied_at
GROUP BY datastream_id, emptied_at
"""
)
"""One pass over the page's readings (each CTE is read once, so PostgreSQL inlines it instead of
materialising 100,000s of rows): the last emptying per datastream as a window aggregate, then
the regression over the rows since it."""


@dataclass(frozen=True, slots=True)
class FillCycle:
    last_emptied_at: datetime | None
    fill_rate_per_day: float | None


async def fill_cycles(
    session: AsyncSession,
    datastream_ids: Sequence[int],
    *,
    now: datetime,
    history_days: int,
    emptying_drop: float,
) -> dict[int, FillCycle]:
    """The fill cycle of each container datastream (one statement, bounded by the history)."""
    if not datastream_ids:
        return {}
    rows = await session.execute(
        CYCLES,
        {
            "ids": list(datastream_ids),
            "since": now - timedelta(days=history_days),
            "drop": emptying_drop,
        },
    )
    cycles: dict[int, FillCycle] = {}
    for stream_id, emptied_at, count, slope, span in rows.all():
        known = slope is not None and count >= 2 and span >= MIN_RATE_SPAN.total_seconds()
        rate = round(slope * SECONDS_PER_DAY, 3) if known else None
        cycles[int(stream_id)] = FillCycle(emptied_at, rate)
    return cycles


def predicted_full_at(
    level: float | None, observed_at: datetime | None, rate_per_day: float | None
) -> datetime | None:
    """When the container reaches 100 % at its current rate (``None`` if it is not filling)."""
    if level is None or observed_at is None:
        return None
    if level >= FULL:
        return observed_at
    if rate_per_day is None or rate_per_day <= 0:
        return None
    days = (FULL - level) / rate_per_day
    if days > 3650:  # practically never; also keeps the datetime in range
        return None
    return observed_at + timedelta(days=days)
