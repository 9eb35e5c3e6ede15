"""Department queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select

from kommune.pagination import Ordering, PageRequest, SortKey
from kommune.repository import Repository
from kommune_ideas.departments.models import Department

BY_NAME = Ordering(
    "name",
    (
        SortKey(Department.name, "str", descending=False),
        SortKey(Department.id, "uuid", descending=False),
    ),
)


class DepartmentRepository(Repository[Department]):
    model = Department
    not_found = "No such department."

    async def get_by_code(self, code: str) -> Department | None:
        result = await self.session.execute(select(Department).where(Department.code == code))
        return result.scalar_one_or_none()

    async def get_by_name(self, name: str) -> Department | None:
        result = await self.session.execute(select(Department).where(Department.name == name))
        return result.scalar_one_or_none()

    async def exists_with(self, code: str, name: str) -> bool:
        statement: Select[uuid.UUID] = select(Department.id).where(
            or_(Department.code == code, Department.name == name)
        )
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def page(self, page: PageRequest) -> tuple[list[Department], str | None]:
        return await self.paginate(select(Department), BY_NAME, page)
