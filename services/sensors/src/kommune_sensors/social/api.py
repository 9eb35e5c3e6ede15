"""``/api/v1/social``: staff record anonymous counts; the map per district and month.

Counts arrive as figures, not as people: a staff member of the "Ich für uns" desk records "3
help offers in Schnaitheim on 12 November" (``POST /records``), and nothing else can be sent
(no names, no addresses, no free text). ``GET /districts`` answers one calendar month.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Query
from pydantic import Field, field_validator

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import InvalidInput
from kommune.routing import service_router
from kommune.schemas import InputModel, OutputModel
from kommune_sensors.access import Permission, requires
from kommune_sensors.clock import utc_now
from kommune_sensors.districts import DISTRICTS, canonical
from kommune_sensors.social.models import SocialRecord
from kommune_sensors.social.service import MINIMUM, monthly

router = service_router("/api/v1/social", tags=["social map"])
MayRecord = Annotated[Principal, Depends(requires(Permission.RECORD_SOCIAL))]
MayRead = Annotated[Principal, Depends(requires(Permission.READ_DATA))]
BERLIN = ZoneInfo("Europe/Berlin")
FIRST_DAY = date(2018, 10, 1)
"""The pilot began on 1 October 2018: nothing is recorded before."""
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def today() -> date:
    return utc_now().astimezone(BERLIN).date()


class RecordIn(InputModel):
    district: str = Field(min_length=1, max_length=50, description=f"One of {', '.join(DISTRICTS)}")
    kind: Literal["offer", "request"]
    count: int = Field(
        strict=True, ge=1, le=1000, description="How many offers or requests (not people's data)"
    )
    day: date

    @field_validator("district")
    @classmethod
    def known_district(cls, value: str) -> str:
        name = canonical(value)
        if name is None:
            raise ValueError(f"not a district of Heidenheim ({', '.join(DISTRICTS)})")
        return name

    @field_validator("day")
    @classmethod
    def plausible_day(cls, value: date) -> date:
        if value < FIRST_DAY or value > today():
            raise ValueError("the day lies between 2018-10-01 and today")
        return value


class RecordOut(OutputModel):
    id: int
    district: str
    kind: str
    count: int
    day: date
    recorded_at: datetime


class DistrictOut(OutputModel):
    district: str
    offers: int | None
    requests: int | None
    ratio: float | None
    suppressed: bool


class SocialMap(OutputModel):
    month: str
    minimum_count: int
    districts: list[DistrictOut]


def parse_month(value: str | None, default: date) -> date:
    if value is None:
        return default.replace(day=1)
    match = _MONTH.fullmatch(value)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput("month is YYYY-MM.", field="month")
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if month < FIRST_DAY or month > today():
        raise InvalidInput("month lies between 2018-10 and this month.", field="month")
    return month


@router.post("/records", status_code=201, summary="Record counts of help offers or requests")
async def record(body: RecordIn, session: DbSession, principal: MayRecord) -> RecordOut:
    row = SocialRecord(
        district=body.district,
        kind=body.kind,
        count=body.count,
        day=body.day,
        recorded_by=principal.sub,
        recorded_at=utc_now(),
    )
    session.add(row)
    await session.flush()
    return RecordOut.model_validate(row, from_attributes=True)


@router.get("/districts", summary="Offers, requests and their ratio per district (one month)")
async def districts(
    session: DbSession,
    _principal: MayRead,
    month: Annotated[
        str | None, Query(max_length=7, description="YYYY-MM; default this month")
    ] = None,
) -> SocialMap:
    first = parse_month(month, today())
    cells = await monthly(session, first, first)
    return SocialMap(
        month=f"{first:%Y-%m}",
        minimum_count=MINIMUM,
        districts=[
            DistrictOut(
                district=c.district,
                offers=c.offers,
                requests=c.requests,
                ratio=c.ratio,
                suppressed=c.suppressed,
            )
            for c in cells
        ],
    )
