"""File plan queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_documents.fileplan.models import PlanUnit

BY_CODE = Ordering(
    "code",
    (
        SortKey(PlanUnit.code, "str", descending=False),
        SortKey(PlanUnit.id, "uuid", descending=False),
    ),
)


class PlanUnitRepository(Repository[PlanUnit]):
    model = PlanUnit
    not_found = "No such plan unit."

    async def by_code(self, code: str) -> PlanUnit | None:
        result = await self.session.execute(select(PlanUnit).where(PlanUnit.code == code))
        return result.scalar_one_or_none()

    async def page(
        self, page: PageRequest, *, parent_id: uuid.UUID | None, top_level: bool
    ) -> tuple[list[PlanUnit], str | None]:
        statement = select(PlanUnit)
        if parent_id is not None:
            statement = statement.where(PlanUnit.parent_id == parent_id)
        elif top_level:
            statement = statement.where(PlanUnit.parent_id.is_(None))
        return await self.paginate(
            statement, BY_CODE, page, filters=fingerprint(parent_id, top_level)
        )
