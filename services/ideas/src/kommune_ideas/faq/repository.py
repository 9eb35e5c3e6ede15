"""FAQ queries."""

from __future__ import annotations

from sqlalchemy import false, func, select

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey
from kommune.repository import Repository
from kommune_ideas.access import Permission, can
from kommune_ideas.faq.models import FaqEntry

IN_ORDER = Ordering(
    "position",
    (
        SortKey(FaqEntry.position, "int", descending=False),
        SortKey(FaqEntry.id, "uuid", descending=False),
    ),
)


class FaqRepository(Repository[FaqEntry]):
    model = FaqEntry
    not_found = "No such FAQ entry."

    async def page(self, viewer: Principal, page: PageRequest) -> tuple[list[FaqEntry], str | None]:
        statement = select(FaqEntry)
        if not can(viewer, Permission.READ_FAQ):
            statement = statement.where(false())
        return await self.paginate(statement, IN_ORDER, page)

    async def get_by_question(self, question: str) -> FaqEntry | None:
        statement = select(FaqEntry).where(FaqEntry.question == question)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def next_position(self) -> int:
        statement = select(func.coalesce(func.max(FaqEntry.position), 0))
        return int((await self.session.execute(statement)).scalar_one()) + 10
