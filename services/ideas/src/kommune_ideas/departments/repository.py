"""Department queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_ideas.departments.models import Department
from kommune_ideas.pagination import Ordering, PageRequest, SortKey, paginate

BY_NAME = Ordering(
    "name",
    (
        SortKey(Department.name, "str", descending=False),
        SortKey(Department.id, "uuid", descending=False),
    ),
)


class DepartmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, department_id: uuid.UUID) -> Department | None:
        return await self.session.get(Department, department_id)

    async def get_by_code(self, code: str) -> Department | None:
        result = await self.session.execute(select(Department).where(Department.code == code))
        return result.scalar_one_or_none()

    async def exists_with(self, code: str, name: str) -> bool:
        statement: Select[uuid.UUID] = select(Department.id).where(
            or_(Department.code == code, Department.name == name)
        )
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def add(self, department: Department) -> Department:
        self.session.add(department)
        await self.session.flush()
        return department

    async def page(self, page: PageRequest) -> tuple[list[Department], str | None]:
        return await paginate(self.session, select(Department), BY_NAME, page)
