"""FAQ rules: every staff member reads, editors (project leads) write."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict
from kommune.pagination import PageRequest
from kommune_ideas.access import Permission, require
from kommune_ideas.faq.models import FaqEntry
from kommune_ideas.faq.repository import FaqRepository
from kommune_ideas.faq.schemas import FaqCreate, FaqUpdate


class FaqService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.faq = FaqRepository(session)

    async def browse(
        self, viewer: Principal, page: PageRequest
    ) -> tuple[list[FaqEntry], str | None]:
        require(viewer, Permission.READ_FAQ)
        return await self.faq.page(viewer, page)

    async def get(self, viewer: Principal, entry_id: uuid.UUID) -> FaqEntry:
        require(viewer, Permission.READ_FAQ)
        return await self._entry(entry_id)

    async def _entry(self, entry_id: uuid.UUID, *, for_update: bool = False) -> FaqEntry:
        return await self.faq.get(entry_id, for_update=for_update)

    async def create(
        self, editor: Principal, body: FaqCreate, *, entry_id: uuid.UUID | None = None
    ) -> FaqEntry:
        """Add a question; ``entry_id`` is given only by the demo loader (its fixed ids)."""
        require(editor, Permission.EDIT_FAQ)
        if await self.faq.get_by_question(body.question) is not None:
            raise Conflict("This question is in the FAQ already.")
        now = utc_now()
        position = body.position if body.position is not None else await self.faq.next_position()
        return await self.faq.add(
            FaqEntry(
                id=entry_id or uuid.uuid4(),
                question=body.question,
                answer=body.answer,
                position=position,
                created_at=now,
                updated_at=now,
            )
        )

    async def update(self, editor: Principal, entry_id: uuid.UUID, body: FaqUpdate) -> FaqEntry:
        require(editor, Permission.EDIT_FAQ)
        entry = await self._entry(entry_id, for_update=True)
        if (
            body.question is not None
            and body.question != entry.question
            and await self.faq.get_by_question(body.question) is not None
        ):
            raise Conflict("This question is in the FAQ already.")
        for name in body.model_fields_set:
            setattr(entry, name, getattr(body, name))
        entry.updated_at = utc_now()
        await self.session.flush()
        return entry

    async def delete(self, editor: Principal, entry_id: uuid.UUID) -> None:
        require(editor, Permission.EDIT_FAQ)
        await self.faq.delete(await self._entry(entry_id, for_update=True))
