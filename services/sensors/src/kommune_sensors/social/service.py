"""The social map's figures: offers and requests per district and calendar month.

Counts are summed per whole month (Europe/Berlin) and district, then each cell is checked on its
own (:mod:`kommune_sensors.suppression`); the ratio is published only when both of its counts
are. The API and the open-data export read the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_sensors.districts import DISTRICTS
from kommune_sensors.social.models import SocialRecord
from kommune_sensors.suppression import MINIMUM, publishable


@dataclass(frozen=True)
class DistrictMonth:
    month: date
    """The first day of the month."""
    district: str
    offers: int | None
    requests: int | None
    ratio: float | None
    """Offers per request: above 1 more help offered than asked for."""
    suppressed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": f"{self.month:%Y-%m}",
            "district": self.district,
            "offers": self.offers,
            "requests": self.requests,
            "ratio": self.ratio,
            "suppressed": self.suppressed,
        }


def next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def publish(month: date, district: str, offers: int, requests: int) -> DistrictMonth:
    shown_offers, shown_requests = publishable(offers), publishable(requests)
    ratio = None
    if shown_offers is not None and shown_requests:
        ratio = round(offers / requests, 2)
    return DistrictMonth(
        month=month,
        district=district,
        offers=None if shown_offers is None else int(shown_offers),
        requests=None if shown_requests is None else int(shown_requests),
        ratio=ratio,
        suppressed=shown_offers is None or shown_requests is None,
    )


async def monthly(session: AsyncSession, first: date, last: date) -> list[DistrictMonth]:
    """Every district for every month from ``first`` to ``last`` (first days), suppressed."""
    month = func.date_trunc("month", SocialRecord.day)
    rows = await session.execute(
        select(
            month.label("month"),
            SocialRecord.district,
            func.sum(case((SocialRecord.kind == "offer", SocialRecord.count), else_=0)),
            func.sum(case((SocialRecord.kind == "request", SocialRecord.count), else_=0)),
        )
        .where(SocialRecord.day >= first, SocialRecord.day < next_month(last))
        .group_by(month, SocialRecord.district)
    )
    sums = {(m.date(), d): (int(o), int(r)) for m, d, o, r in rows.all()}
    result = []
    current = first
    while current <= last:
        for district in DISTRICTS:
            offers, requests = sums.get((current, district), (0, 0))
            result.append(publish(current, district, offers, requests))
        current = next_month(current)
    return result


__all__ = ["MINIMUM", "DistrictMonth", "monthly", "next_month", "publish"]
