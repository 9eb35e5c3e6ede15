"""``GET /api/v1/sensors/alerts``: the alerts, newest first (staff)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import select

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Ordering, Page, PageParams, SortKey, fingerprint, paginate
from kommune.routing import service_router
from kommune.schemas import OutputModel
from kommune_sensors.access import Permission, requires
from kommune_sensors.alerts.models import Alert

router = service_router("/api/v1/sensors", tags=["alerts"])
MayRead = Annotated[Principal, Depends(requires(Permission.READ_DATA))]
NEWEST = Ordering(
    "newest",
    (SortKey(Alert.raised_at, "datetime", descending=True), SortKey(Alert.id, "uuid")),
)


class AlertOut(OutputModel):
    id: uuid.UUID
    kind: str
    thing_id: int
    datastream_id: int
    value: float
    threshold: float
    raised_at: datetime
    resolved_at: datetime | None


@router.get("/alerts", summary="Alerts (containers full, schoolyards busy at night), newest first")
async def list_alerts(
    session: DbSession,
    principal: MayRead,
    page: PageParams,
    open_only: Annotated[bool, Query(alias="open", description="Only unresolved alerts.")] = False,
    thing_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Page[AlertOut]:
    statement = select(Alert)
    if open_only:
        statement = statement.where(Alert.resolved_at.is_(None))
    if thing_id is not None:
        statement = statement.where(Alert.thing_id == thing_id)
    items, next_cursor = await paginate(
        session, statement, NEWEST, page, filters=fingerprint(open_only, thing_id)
    )
    return Page(items=[AlertOut.model_validate(a) for a in items], next_cursor=next_cursor)
