"""Mailroom endpoints (``/api/v1/mailroom``): take in scanned post, inboxes, filing, rules."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.documents.backends import content_store
from kommune_documents.documents.responses import CONTENT_RESPONSES, content_response
from kommune_documents.documents.upload import receive_upload
from kommune_documents.mailroom.models import MailItem
from kommune_documents.mailroom.schemas import (
    UPLOAD_OPENAPI,
    Department,
    FileMail,
    MailItemOut,
    Reroute,
    RuleCreate,
    RuleOut,
)
from kommune_documents.mailroom.service import MailroomService
from kommune_documents.settings import DocumentsSettings

MayHandleMail = Annotated[Principal, Depends(requires(Permission.HANDLE_MAIL))]
MayRead = Annotated[Principal, Depends(requires(Permission.READ_FILES))]
MayEdit = Annotated[Principal, Depends(requires(Permission.EDIT_FILES))]
EXCERPT_CHARS = 300

router = service_router("/api/v1/mailroom", tags=["mailroom"])


def _settings(request: Request) -> DocumentsSettings:
    settings: DocumentsSettings = request.state.settings
    return settings


def _service(request: Request, session: DbSession) -> MailroomService:
    settings = _settings(request)
    return MailroomService(session, content_store(request), settings.max_extract_bytes)


Mailroom = Annotated[MailroomService, Depends(_service)]


def _out(item: MailItem) -> MailItemOut:
    out = MailItemOut.model_validate(item)
    out.excerpt = " ".join(item.content_text[: EXCERPT_CHARS * 2].split())[:EXCERPT_CHARS]
    return out


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Take in scanned post (multipart: sender?, subject?, content: PDF/PNG/JPEG/TIFF)",
    openapi_extra=UPLOAD_OPENAPI,
)
async def receive_mail(
    request: Request, mailroom: Mailroom, principal: MayHandleMail
) -> MailItemOut:
    upload = await receive_upload(request, mailroom.store, _settings(request).max_upload_bytes)
    try:
        item = await mailroom.receive(principal, upload)
    finally:
        upload.discard()
    return _out(item)


@router.get("/inbox", summary="Items waiting in a department's inbox (none: the central inbox)")
async def inbox(
    mailroom: Mailroom,
    principal: MayRead,
    page: PageParams,
    department: Annotated[Department | None, Query()] = None,
) -> Page[MailItemOut]:
    items, next_cursor = await mailroom.inbox(principal, department, page)
    return Page(items=[_out(i) for i in items], next_cursor=next_cursor)


@router.get("/items/{item_id}", summary="One mail item (its state, inbox and text excerpt)")
async def get_item(item_id: uuid.UUID, mailroom: Mailroom, principal: MayRead) -> MailItemOut:
    return _out(await mailroom.get(principal, item_id))


@router.get(
    "/items/{item_id}/content",
    summary="Download the scan, to decide where it belongs",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
async def item_content(
    item_id: uuid.UUID, request: Request, mailroom: Mailroom, principal: MayRead
) -> Response:
    item = await mailroom.download(principal, item_id)
    return await content_response(mailroom.store, item, request)


@router.post(
    "/items/{item_id}/file",
    summary="File a mail item into a case file (and process): it becomes a document",
)
async def file_item(
    item_id: uuid.UUID, body: FileMail, mailroom: Mailroom, principal: MayEdit
) -> MailItemOut:
    return _out(await mailroom.file(principal, item_id, body))


@router.post(
    "/items/{item_id}/route",
    summary="Send a waiting item to another department's inbox",
)
async def reroute_item(
    item_id: uuid.UUID, body: Reroute, mailroom: Mailroom, principal: MayRead
) -> MailItemOut:
    return _out(await mailroom.reroute(principal, item_id, body))


@router.post("/rules", status_code=status.HTTP_201_CREATED, summary="Add a routing rule")
async def add_rule(body: RuleCreate, mailroom: Mailroom, principal: MayHandleMail) -> RuleOut:
    return RuleOut.model_validate(await mailroom.add_rule(principal, body))


@router.get("/rules", summary="The routing rules, in the order they are tried")
async def list_rules(mailroom: Mailroom, principal: MayHandleMail) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in await mailroom.rules(principal)]
