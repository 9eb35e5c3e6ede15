"""Registry endpoints under ``/api/v1/sensors``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_sensors.access import Permission, requires
from kommune_sensors.devices.schemas import (
    DatastreamCreate,
    DatastreamOut,
    DeviceKeyOut,
    IssuedDeviceKey,
    ThingCreate,
    ThingOut,
)
from kommune_sensors.devices.service import DeviceService

MayRead = Annotated[Principal, Depends(requires(Permission.READ_DATA))]
MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_DEVICES))]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = service_router("/api/v1/sensors", tags=["devices"])


@router.post("/things", status_code=status.HTTP_201_CREATED, summary="Register a thing")
async def create_thing(body: ThingCreate, session: DbSession, principal: MayManage) -> ThingOut:
    return await DeviceService(session).create_thing(principal, body)


@router.get("/things", summary="List things")
async def list_things(session: DbSession, principal: MayRead, page: PageParams) -> Page[ThingOut]:
    items, next_cursor = await DeviceService(session).browse_things(principal, page)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/things/{thing_id}", summary="Get a thing")
async def get_thing(thing_id: EntityId, session: DbSession, principal: MayRead) -> ThingOut:
    return await DeviceService(session).get_thing(principal, thing_id)


@router.post(
    "/things/{thing_id}/datastreams",
    status_code=status.HTTP_201_CREATED,
    summary="Add a datastream (with its sensor and observed property) to a thing",
)
async def create_datastream(
    thing_id: EntityId, body: DatastreamCreate, session: DbSession, principal: MayManage
) -> DatastreamOut:
    return await DeviceService(session).create_datastream(principal, thing_id, body)


@router.get("/things/{thing_id}/datastreams", summary="List a thing's datastreams")
async def list_datastreams(
    thing_id: EntityId, session: DbSession, principal: MayRead, page: PageParams
) -> Page[DatastreamOut]:
    items, next_cursor = await DeviceService(session).browse_datastreams(principal, thing_id, page)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/datastreams/{datastream_id}", summary="Get a datastream with its latest reading")
async def get_datastream(
    datastream_id: EntityId, session: DbSession, principal: MayRead
) -> DatastreamOut:
    return await DeviceService(session).get_datastream(principal, datastream_id)


@router.post(
    "/things/{thing_id}/keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a device key (shown once)",
)
async def issue_key(
    thing_id: EntityId, session: DbSession, principal: MayManage
) -> IssuedDeviceKey:
    return await DeviceService(session).issue_key(principal, thing_id)


@router.get("/things/{thing_id}/keys", summary="List a thing's keys (never the secrets)")
async def list_keys(
    thing_id: EntityId, session: DbSession, principal: MayManage
) -> list[DeviceKeyOut]:
    return await DeviceService(session).list_keys(principal, thing_id)


@router.post(
    "/things/{thing_id}/keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    summary="Replace a key: the new one is shown once, the old one stops working",
)
async def rotate_key(
    thing_id: EntityId, key_id: uuid.UUID, session: DbSession, principal: MayManage
) -> IssuedDeviceKey:
    return await DeviceService(session).rotate_key(principal, thing_id, key_id)


@router.delete(
    "/things/{thing_id}/keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key",
)
async def revoke_key(
    thing_id: EntityId, key_id: uuid.UUID, session: DbSession, principal: MayManage
) -> Response:
    await DeviceService(session).revoke_key(principal, thing_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
