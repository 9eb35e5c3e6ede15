"""Queries of the mailbox: a citizen reads only their own messages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_egov.mailbox.models import MailboxMessage

NEWEST_FIRST = Ordering(
    "mailbox",
    (SortKey(MailboxMessage.created_at, "datetime"), SortKey(MailboxMessage.id, "uuid")),
)


class MailboxRepository(Repository[MailboxMessage]):
    model = MailboxMessage
    not_found = "No such message."

    def _of(self, recipient_sub: str) -> Select[Any]:
        return select(MailboxMessage).where(MailboxMessage.recipient_sub == recipient_sub)

    async def page_of(
        self,
        recipient_sub: str,
        page: PageRequest,
        *,
        unread: bool | None,
        application_id: uuid.UUID | None,
    ) -> tuple[list[MailboxMessage], str | None]:
        statement = self._of(recipient_sub)
        if unread is True:
            statement = statement.where(MailboxMessage.read_at.is_(None))
        elif unread is False:
            statement = statement.where(MailboxMessage.read_at.is_not(None))
        if application_id is not None:
            statement = statement.where(MailboxMessage.application_id == application_id)
        filters = fingerprint(recipient_sub, unread, application_id)
        return await self.paginate(statement, NEWEST_FIRST, page, filters=filters)

    async def own(
        self, recipient_sub: str, message_id: uuid.UUID, *, for_update: bool = False
    ) -> MailboxMessage | None:
        statement = self._of(recipient_sub).where(MailboxMessage.id == message_id)
        if for_update:
            statement = statement.with_for_update()
        message: MailboxMessage | None = (
            await self.session.execute(statement)
        ).scalar_one_or_none()
        return message

    async def unread_count(self, recipient_sub: str) -> int:
        statement = select(func.count()).where(
            MailboxMessage.recipient_sub == recipient_sub, MailboxMessage.read_at.is_(None)
        )
        return int((await self.session.execute(statement)).scalar_one())
