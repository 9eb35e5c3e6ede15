"""FAQ queries."""

from __future__ import annotations

import uuid

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune_ideas.access import Permission, can
from kommune_ideas.faq.models import FaqEntry
from kommune_ideas.pagination import Ordering, PageRequest, SortKey, paginate

IN_ORDER = Ordering(
    "position",
    (
        SortKey(FaqEntry.position, "int", descending=False),
        SortKey(FaqEntry.id, "uuid", descending=False),
    ),
)


class FaqRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(self, viewer: Principal, page: PageRequest) -> tuple[list[FaqEntry], str | None]:
        statement = select(FaqEntry)
        if not can(viewer, Permission.READ_FAQ):
            statement = statement.where(false())
        return await paginate(self.session, statement, IN_ORDER, page)

    async def get(self, entry_id: uuid.UUID, *, for_update: bool = False) -> FaqEntry | None:
        statement = select(FaqEntry).where(FaqEntry.id == entry_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_by_question(self, question: str) -> FaqEntry | None:
        statement = select(FaqEntry).where(FaqEntry.question == question)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def next_position(self) -> int:
        statement = select(func.coalesce(func.max(FaqEntry.position), 0))
        return int((await self.session.execute(statement)).scalar_one()) + 10

    async def add(self, entry: FaqEntry) -> FaqEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def delete(self, entry: FaqEntry) -> None:
        await self.session.delete(entry)
        await self.session.flush()
