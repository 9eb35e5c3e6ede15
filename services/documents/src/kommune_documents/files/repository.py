"""Case file and process queries, with the per-file access rule as SQL."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.dialects.postgresql import insert

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_documents.access import Confidentiality, Permission, can
from kommune_documents.files.models import (
    CaseFile,
    FileNumberCounter,
    FileReader,
    Process,
    Status,
)

NEWEST_FIRST = Ordering(
    "opened",
    (SortKey(CaseFile.opened_at, "datetime"), SortKey(CaseFile.id, "uuid")),
)
PROCESS_ORDER = Ordering(
    "sequence",
    (
        SortKey(Process.sequence, "int", descending=False),
        SortKey(Process.id, "uuid", descending=False),
    ),
)


def readable(principal: Principal) -> ColumnElement[bool]:
    """The files ``principal`` may read, as a WHERE clause on ``case_files`` (the same rule as
    :func:`kommune_documents.access.file_access`; lists, search and counts use it)."""
    if can(principal, Permission.ALL_FILES):
        return true()
    if not can(principal, Permission.READ_FILES):
        return false()
    named = exists().where(FileReader.file_id == CaseFile.id, FileReader.subject == principal.sub)
    if principal.department is not None and can(principal, Permission.EDIT_FILES):
        return or_(
            named,
            and_(
                CaseFile.department == principal.department,
                CaseFile.confidentiality == Confidentiality.NORMAL,
            ),
        )
    return named


class FileRepository(Repository[CaseFile]):
    model = CaseFile
    not_found = "No such case file."

    async def next_sequence(self, plan_unit_id: uuid.UUID, year: int) -> int:
        """The next number of the plan unit in ``year``. The upsert locks the counter row until
        the transaction ends, so concurrent new files queue here and never share a number (and a
        rolled-back file gives its number back)."""
        statement = (
            insert(FileNumberCounter)
            .values(plan_unit_id=plan_unit_id, year=year, last_sequence=1)
            .on_conflict_do_update(
                index_elements=[FileNumberCounter.plan_unit_id, FileNumberCounter.year],
                set_={"last_sequence": FileNumberCounter.last_sequence + 1},
            )
            .returning(FileNumberCounter.last_sequence)
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def readers(self, file_id: uuid.UUID) -> list[str]:
        result = await self.session.execute(
            select(FileReader.subject)
            .where(FileReader.file_id == file_id)
            .order_by(FileReader.subject)
        )
        return list(result.scalars())

    async def is_named(self, file_id: uuid.UUID, subject: str) -> bool:
        result = await self.session.execute(
            select(FileReader.subject).where(
                FileReader.file_id == file_id, FileReader.subject == subject
            )
        )
        return result.first() is not None

    async def reader(self, file_id: uuid.UUID, subject: str) -> FileReader | None:
        return await self.session.get(FileReader, (file_id, subject))

    async def by_source_key(self, key: str, *, for_update: bool = False) -> CaseFile | None:
        statement = select(CaseFile).where(CaseFile.source_key == key)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        file_number: str | None,
        plan_unit_id: uuid.UUID | None,
        status: Status | None,
        department: str | None,
    ) -> tuple[list[CaseFile], str | None]:
        statement = select(CaseFile).where(readable(principal))
        if file_number is not None:
            statement = statement.where(CaseFile.file_number == file_number)
        if plan_unit_id is not None:
            statement = statement.where(CaseFile.plan_unit_id == plan_unit_id)
        if status is not None:
            statement = statement.where(CaseFile.status == status)
        if department is not None:
            statement = statement.where(CaseFile.department == department)
        return await self.paginate(
            statement,
            NEWEST_FIRST,
            page,
            filters=fingerprint(principal.sub, file_number, plan_unit_id, status, department),
        )


class ProcessRepository(Repository[Process]):
    model = Process
    not_found = "No such process."

    async def in_file(self, file_id: uuid.UUID, process_id: uuid.UUID) -> Process | None:
        result = await self.session.execute(
            select(Process).where(Process.id == process_id, Process.file_id == file_id)
        )
        return result.scalar_one_or_none()

    async def next_sequence(self, file_id: uuid.UUID) -> int:
        """Callers hold the file's row lock, so two new processes never get one number."""
        result = await self.session.execute(
            select(func.coalesce(func.max(Process.sequence), 0)).where(Process.file_id == file_id)
        )
        return int(result.scalar_one()) + 1

    async def open_count(self, file_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(Process)
            .where(Process.file_id == file_id, Process.status == Status.OPEN)
        )
        return int(result.scalar_one())

    async def by_source(self, source: str, source_id: uuid.UUID) -> Process | None:
        result = await self.session.execute(
            select(Process).where(Process.source == source, Process.source_id == source_id)
        )
        return result.scalar_one_or_none()

    async def page(self, file_id: uuid.UUID, page: PageRequest) -> tuple[list[Process], str | None]:
        statement = select(Process).where(Process.file_id == file_id)
        return await self.paginate(statement, PROCESS_ORDER, page, filters=fingerprint(file_id))
