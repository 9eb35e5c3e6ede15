"""The public service catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import public_access, service_router
from kommune_egov.access import Permission, requires
from kommune_egov.catalogue.definitions import ServiceKind
from kommune_egov.catalogue.schemas import FormPublish, ServiceDetailOut, ServiceOut
from kommune_egov.catalogue.service import CatalogueService

router = service_router("/api/v1/services", tags=["catalogue"])

MayManageCatalogue = Annotated[Principal, Depends(requires(Permission.MANAGE_CATALOGUE))]

ServiceCode = Annotated[str, Path(min_length=2, max_length=60, pattern=r"^[a-z0-9_]+$")]


@router.get(
    "", summary="The e-services of the city (public)", dependencies=[Depends(public_access)]
)
async def list_services(
    session: DbSession,
    page: PageParams,
    kind: Annotated[ServiceKind | None, Query(description="Only services of this kind.")] = None,
) -> Page[ServiceOut]:
    services, next_cursor = await CatalogueService(session).browse(
        page, kind.value if kind else None
    )
    return Page(items=[ServiceOut.of(s) for s in services], next_cursor=next_cursor)


@router.get(
    "/{code}",
    summary="One e-service with its application form (public)",
    dependencies=[Depends(public_access)],
)
async def get_service(code: ServiceCode, session: DbSession) -> ServiceDetailOut:
    current = await CatalogueService(session).current(code)
    return ServiceDetailOut(**ServiceOut.of(current.service).model_dump(), form=current.form.schema)


@router.post(
    "/{code}/forms",
    status_code=status.HTTP_201_CREATED,
    summary="Publish the next version of a service's form (administrators)",
)
async def publish_form(
    code: ServiceCode, body: FormPublish, session: DbSession, principal: MayManageCatalogue
) -> ServiceDetailOut:
    current = await CatalogueService(session).publish_form(principal, code, body.form)
    return ServiceDetailOut(**ServiceOut.of(current.service).model_dump(), form=current.form.schema)
