"""The base of every repository: its session, get by id, add, delete, one page of a list.

Repositories hold the request's session and never commit (the unit of work does). A domain
repository names its model and what a missing row is called, and adds its own queries::

    class CaseRepository(Repository[Case]):
        model = Case
        not_found = "No such case."

``get`` raises :class:`~kommune.errors.NotFound` (404) so services need not repeat the check;
``find`` returns ``None`` where absence is not an error. ``for_update=True`` locks the row
(``SELECT ... FOR UPDATE OF <table>``) and refreshes the identity map from it, so the service
decides on what is stored now, not on an earlier read in the same session.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.errors import NotFound
from kommune.pagination import Ordering, PageRequest, paginate

M = TypeVar("M")


class Repository(Generic[M]):
    model: ClassVar[type[Any]]
    """The mapped class (with a single-column primary key)."""
    not_found: ClassVar[str] = "Not found."

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def statement(self) -> Select[Any]:
        """What ``get``/``find`` select from; override to add eager loads or visibility."""
        return select(self.model)

    async def find(self, entity_id: uuid.UUID | int | str, *, for_update: bool = False) -> M | None:
        primary_key = self.model.__mapper__.primary_key[0]
        statement = self.statement().where(primary_key == entity_id)
        if for_update:
            statement = statement.with_for_update(of=self.model).execution_options(
                populate_existing=True
            )
        result: M | None = (await self.session.execute(statement)).scalar_one_or_none()
        return result

    async def get(self, entity_id: uuid.UUID | int | str, *, for_update: bool = False) -> M:
        """The row, or :class:`~kommune.errors.NotFound` with :attr:`not_found` as its detail."""
        entity = await self.find(entity_id, for_update=for_update)
        if entity is None:
            raise NotFound(self.not_found)
        return entity

    async def add(self, entity: M) -> M:
        self.session.add(entity)
        await self.session.flush()
        return entity

    async def delete(self, entity: M) -> None:
        await self.session.delete(entity)
        await self.session.flush()

    async def paginate(
        self, statement: Select[Any], ordering: Ordering, page: PageRequest, **options: Any
    ) -> tuple[list[Any], str | None]:
        """One page of ``statement`` in ``ordering``; ``options`` are ``filters`` and
        ``parameters`` of :func:`kommune.pagination.paginate`."""
        return await paginate(self.session, statement, ordering, page, **options)
