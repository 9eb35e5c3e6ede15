"""Department endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_ideas.access import Permission, requires
from kommune_ideas.departments.schemas import DepartmentCreate, DepartmentOut
from kommune_ideas.departments.service import DepartmentService

MayManageDepartments = Annotated[Principal, Depends(requires(Permission.MANAGE_DEPARTMENTS))]
MayReadStore = Annotated[Principal, Depends(requires(Permission.READ_STORE))]

router = service_router("/api/v1/departments", tags=["departments"])


@router.get("", summary="List departments")
async def list_departments(
    session: DbSession, principal: MayReadStore, page: PageParams
) -> Page[DepartmentOut]:
    items, next_cursor = await DepartmentService(session).browse(principal, page)
    return Page(items=[DepartmentOut.model_validate(d) for d in items], next_cursor=next_cursor)


@router.get("/{department_id}", summary="Get a department")
async def get_department(
    department_id: uuid.UUID, session: DbSession, principal: MayReadStore
) -> DepartmentOut:
    return DepartmentOut.model_validate(
        await DepartmentService(session).get(principal, department_id)
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a department (admin)")
async def create_department(
    body: DepartmentCreate, session: DbSession, principal: MayManageDepartments
) -> DepartmentOut:
    return DepartmentOut.model_validate(await DepartmentService(session).create(principal, body))
