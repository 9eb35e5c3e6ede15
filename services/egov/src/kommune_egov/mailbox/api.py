"""The citizen mailbox."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_egov.access import Permission, requires
from kommune_egov.mailbox.schemas import MessageOut, MessageUpdate
from kommune_egov.mailbox.service import MailboxService

MayReadMailbox = Annotated[Principal, Depends(requires(Permission.READ_MAILBOX))]

router = service_router("/api/v1/mailbox", tags=["mailbox"])


@router.get("", summary="Your messages, newest first")
async def list_messages(
    session: DbSession,
    principal: MayReadMailbox,
    page: PageParams,
    unread: Annotated[
        bool | None, Query(description="true: only unread; false: only read.")
    ] = None,
    application_id: Annotated[uuid.UUID | None, Query(description="Only about this case.")] = None,
) -> Page[MessageOut]:
    messages, next_cursor = await MailboxService(session).browse(
        principal, page, unread=unread, application_id=application_id
    )
    return Page(items=[MessageOut.model_validate(m) for m in messages], next_cursor=next_cursor)


@router.get("/{message_id}", summary="One message")
async def get_message(
    message_id: uuid.UUID, session: DbSession, principal: MayReadMailbox
) -> MessageOut:
    return MessageOut.model_validate(await MailboxService(session).get(principal, message_id))


@router.patch("/{message_id}", summary="Mark a message read or unread")
async def update_message(
    message_id: uuid.UUID, body: MessageUpdate, session: DbSession, principal: MayReadMailbox
) -> MessageOut:
    message = await MailboxService(session).mark(principal, message_id, read=body.read)
    return MessageOut.model_validate(message)
