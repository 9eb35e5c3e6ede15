"""Department rules: every staff member reads them, administrators add them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.errors import Conflict
from kommune.pagination import PageRequest
from kommune_ideas.access import Permission, require
from kommune_ideas.departments.models import Department
from kommune_ideas.departments.repository import DepartmentRepository
from kommune_ideas.departments.schemas import DepartmentCreate


class DepartmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = DepartmentRepository(session)

    async def browse(
        self, principal: Principal, page: PageRequest
    ) -> tuple[list[Department], str | None]:
        require(principal, Permission.READ_STORE)
        return await self.repository.page(page)

    async def get(self, principal: Principal, department_id: uuid.UUID) -> Department:
        require(principal, Permission.READ_STORE)
        return await self.repository.get(department_id)

    async def create(self, principal: Principal, body: DepartmentCreate) -> Department:
        require(principal, Permission.MANAGE_DEPARTMENTS)
        if await self.repository.exists_with(body.code, body.name):
            raise Conflict("A department with this code or name exists already.")
        return await self.repository.add(Department(code=body.code, name=body.name))

    async def ensure(
        self, code: str, name: str, *, department_id: uuid.UUID | None = None
    ) -> Department:
        """The department with this code (its stable key) or name, created if neither exists.

        For demo data and imports; no permission check. ``department_id`` is the id a new one
        gets (the demo loader's fixed ids).
        """
        existing = await self.repository.get_by_code(code) or await self.repository.get_by_name(
            name
        )
        if existing is not None:
            return existing
        department = Department(id=department_id or uuid.uuid4(), code=code, name=name)
        return await self.repository.add(department)
