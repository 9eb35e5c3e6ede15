"""File plan endpoints (``/api/v1/fileplan``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.fileplan.schemas import PlanUnitCreate, PlanUnitOut, PlanUnitUpdate
from kommune_documents.fileplan.service import FilePlanService

MayRead = Annotated[Principal, Depends(requires(Permission.READ_FILEPLAN))]
MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_FILEPLAN))]

router = service_router("/api/v1/fileplan", tags=["fileplan"])


@router.get("", summary="List plan units (by code)")
async def list_plan_units(
    session: DbSession,
    principal: MayRead,
    page: PageParams,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only children of this unit.")] = None,
    top_level: Annotated[bool, Query(description="Only units without a parent.")] = False,
) -> Page[PlanUnitOut]:
    items, next_cursor = await FilePlanService(session).browse(
        principal, page, parent_id=parent_id, top_level=top_level
    )
    return Page(items=[PlanUnitOut.model_validate(u) for u in items], next_cursor=next_cursor)


@router.get("/{unit_id}", summary="Get a plan unit")
async def get_plan_unit(unit_id: uuid.UUID, session: DbSession, principal: MayRead) -> PlanUnitOut:
    return PlanUnitOut.model_validate(await FilePlanService(session).get(principal, unit_id))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a plan unit (records manager)")
async def create_plan_unit(
    body: PlanUnitCreate, session: DbSession, principal: MayManage
) -> PlanUnitOut:
    return PlanUnitOut.model_validate(await FilePlanService(session).create(principal, body))


@router.patch("/{unit_id}", summary="Change a plan unit (records manager)")
async def update_plan_unit(
    unit_id: uuid.UUID, body: PlanUnitUpdate, session: DbSession, principal: MayManage
) -> PlanUnitOut:
    return PlanUnitOut.model_validate(
        await FilePlanService(session).update(principal, unit_id, body)
    )
