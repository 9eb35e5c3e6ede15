"""Client apps of the Open311 API: administrators issue and revoke their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.schemas import InputModel, OutputModel, ShortText
from kommune_egov.access import Permission, requires
from kommune_egov.open311.clients import ClientAppService

MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_OPEN311_CLIENTS))]

router = service_router("/api/v1/open311/clients", tags=["open311"])


class ClientCreate(InputModel):
    name: ShortText


class ClientOut(OutputModel):
    id: uuid.UUID
    name: str
    key_hint: str
    created_at: datetime
    revoked_at: datetime | None


class IssuedClientOut(ClientOut):
    api_key: str


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a client app (admins)")
async def register(body: ClientCreate, session: DbSession, principal: MayManage) -> IssuedClientOut:
    """The key is in this response only; the service keeps its SHA-256."""
    client, key = await ClientAppService(session).register(principal, body.name)
    return IssuedClientOut(**ClientOut.model_validate(client).model_dump(), api_key=key)


@router.get("", summary="Registered client apps (admins)")
async def list_clients(
    session: DbSession, principal: MayManage, page: PageParams
) -> Page[ClientOut]:
    clients, next_cursor = await ClientAppService(session).browse(principal, page)
    return Page(items=[ClientOut.model_validate(c) for c in clients], next_cursor=next_cursor)


@router.delete(
    "/{client_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a key (admins)"
)
async def revoke(client_id: uuid.UUID, session: DbSession, principal: MayManage) -> Response:
    await ClientAppService(session).revoke(principal, client_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
