"""Open311 queries: damage-report services, reports with their case, the nearby open report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_egov.applications.models import Application
from kommune_egov.applications.workflow import FINAL, OPEN
from kommune_egov.catalogue.definitions import ServiceKind
from kommune_egov.catalogue.models import EService
from kommune_egov.open311.models import Open311Report
from kommune_egov.open311.schemas import RequestFilters

EARTH_RADIUS_M = 6_371_000.0
DEGREE_M = 111_195.0
"""Metres per degree of latitude (and of longitude at the equator)."""


@dataclass(frozen=True, slots=True)
class ReportRow:
    report: Open311Report
    application: Application
    service: EService


def _distance_m(lat: float, long: float) -> ColumnElement[float]:
    """Haversine distance of an application's place from (lat, long), in metres (SQL)."""
    return (
        2
        * EARTH_RADIUS_M
        * func.asin(
            func.sqrt(
                func.power(func.sin(func.radians(Application.latitude - lat) / 2), 2)
                + func.cos(func.radians(lat))
                * func.cos(func.radians(Application.latitude))
                * func.power(func.sin(func.radians(Application.longitude - long) / 2), 2)
            )
        )
    )


class Open311Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def damage_services(self) -> list[EService]:
        statement = (
            select(EService)
            .where(EService.kind == ServiceKind.DAMAGE_REPORT.value, EService.listed.is_(True))
            .order_by(EService.code)
        )
        return list((await self.session.execute(statement)).scalars())

    def _rows(self) -> Select[Open311Report, Application, EService]:
        return (
            select(Open311Report, Application, EService)
            .join(Application, Application.id == Open311Report.application_id)
            .join(EService, EService.id == Application.service_id)
        )

    async def search(self, filters: RequestFilters) -> list[ReportRow]:
        statement = self._rows()
        if filters.ids is not None:  # "This overrides all other arguments."
            statement = statement.where(Open311Report.service_request_id.in_(filters.ids))
        else:
            statement = statement.where(
                Application.submitted_at >= filters.start, Application.submitted_at <= filters.end
            )
            if filters.service_codes is not None:
                statement = statement.where(Application.service_code.in_(filters.service_codes))
            if filters.statuses is not None:
                wanted = [
                    status.value
                    for name, group in (("open", OPEN), ("closed", FINAL))
                    if name in filters.statuses
                    for status in group
                ]
                statement = statement.where(Application.status.in_(wanted))
        statement = (
            statement.order_by(
                Application.submitted_at.desc(), Open311Report.service_request_id.desc()
            )
            .offset((filters.page - 1) * filters.page_size)
            .limit(filters.page_size)
        )
        rows = (await self.session.execute(statement)).all()
        return [ReportRow(row[0], row[1], row[2]) for row in rows]

    async def one(self, service_request_id: int) -> ReportRow | None:
        statement = self._rows().where(Open311Report.service_request_id == service_request_id)
        row = (await self.session.execute(statement)).first()
        return None if row is None else ReportRow(row[0], row[1], row[2])

    async def lock_service(self, service_code: str) -> None:
        """Serialise reports of one service until commit, so that of two reports of the same
        damage sent at the same moment the second sees the first (the duplicate hint)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"open311-duplicates:{service_code}"},
        )

    async def open_report_nearby(
        self, service_code: str, lat: float, long: float, since: datetime, radius_m: float
    ) -> Open311Report | None:
        """The nearest open report of the service within ``radius_m`` submitted since ``since``;
        the first of a chain (a report linked to an earlier one is not linked to again)."""
        lat_span = radius_m / DEGREE_M
        long_span = radius_m / (DEGREE_M * max(math.cos(math.radians(lat)), 0.01))
        distance = _distance_m(lat, long)
        statement = (
            select(Open311Report)
            .join(Application, Application.id == Open311Report.application_id)
            .where(
                Application.service_code == service_code,
                Application.status.in_([status.value for status in OPEN]),
                Application.submitted_at >= since,
                Open311Report.duplicate_of.is_(None),
                and_(
                    Application.latitude.between(lat - lat_span, lat + lat_span),
                    Application.longitude.between(long - long_span, long + long_span),
                ),
                distance <= radius_m,
            )
            .order_by(distance, Open311Report.service_request_id)
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, report: Open311Report) -> Open311Report:
        self.session.add(report)
        await self.session.flush()
        return report
