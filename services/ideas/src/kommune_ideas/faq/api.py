"""FAQ endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_ideas.access import Permission, requires
from kommune_ideas.faq.schemas import FaqCreate, FaqOut, FaqUpdate
from kommune_ideas.faq.service import FaqService

MayEditFaq = Annotated[Principal, Depends(requires(Permission.EDIT_FAQ))]
MayReadFaq = Annotated[Principal, Depends(requires(Permission.READ_FAQ))]

router = service_router("/api/v1/faq", tags=["faq"])


@router.get("", summary="The FAQ, in order")
async def list_faq(session: DbSession, principal: MayReadFaq, page: PageParams) -> Page[FaqOut]:
    entries, next_cursor = await FaqService(session).browse(principal, page)
    return Page(items=[FaqOut.model_validate(e) for e in entries], next_cursor=next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a question (editors)")
async def create_faq(body: FaqCreate, session: DbSession, principal: MayEditFaq) -> FaqOut:
    return FaqOut.model_validate(await FaqService(session).create(principal, body))


@router.get("/{entry_id}", summary="One FAQ entry")
async def get_faq(entry_id: uuid.UUID, session: DbSession, principal: MayReadFaq) -> FaqOut:
    return FaqOut.model_validate(await FaqService(session).get(principal, entry_id))


@router.patch("/{entry_id}", summary="Edit a FAQ entry (editors)")
async def update_faq(
    entry_id: uuid.UUID, body: FaqUpdate, session: DbSession, principal: MayEditFaq
) -> FaqOut:
    return FaqOut.model_validate(await FaqService(session).update(principal, entry_id, body))


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove (editors)")
async def delete_faq(entry_id: uuid.UUID, session: DbSession, principal: MayEditFaq) -> Response:
    await FaqService(session).delete(principal, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
