"""Queries of attachments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import undefer

from kommune.repository import Repository
from kommune_egov.attachments.models import Attachment


class AttachmentRepository(Repository[Attachment]):
    model = Attachment
    not_found = "No such attachment."

    async def unattached_of(
        self, owner_sub: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Attachment]:
        """``owner_sub``'s attachments among ``ids`` that are not attached yet (locked)."""
        if not ids:
            return {}
        statement = (
            select(Attachment)
            .where(
                Attachment.id.in_(ids),
                Attachment.owner_sub == owner_sub,
                Attachment.application_id.is_(None),
            )
            .with_for_update()
        )
        return {a.id: a for a in (await self.session.execute(statement)).scalars()}

    async def of_application(self, application_id: uuid.UUID) -> list[Attachment]:
        statement = (
            select(Attachment)
            .where(Attachment.application_id == application_id)
            .order_by(Attachment.created_at, Attachment.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def with_content(self, attachment_id: uuid.UUID) -> Attachment | None:
        statement = (
            select(Attachment)
            .where(Attachment.id == attachment_id)
            .options(undefer(Attachment.content))
        )
        return (await self.session.execute(statement)).scalar_one_or_none()
