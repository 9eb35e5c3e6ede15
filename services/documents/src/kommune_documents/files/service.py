"""Case file and process rules.

A file is opened under a plan unit valid today and gets its number then; it belongs to a
department and has a confidentiality level; who may read and write it is decided by
:func:`kommune_documents.access.file_access`. A file that a caller may not read is answered
404 (and the attempt audited); a file they may only read is 403 for changes. Closed files and
processes take nothing new; a file closes only when its processes are closed, and its closing
date starts the retention period.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, Forbidden, InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_documents import events
from kommune_documents.access import (
    NO_ACCESS,
    Confidentiality,
    FileAccess,
    Permission,
    can,
    file_access,
    require,
)
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.fileplan.models import PlanUnit
from kommune_documents.fileplan.repository import PlanUnitRepository
from kommune_documents.fileplan.service import is_valid_on
from kommune_documents.files.models import CaseFile, FileReader, Process, Status
from kommune_documents.files.repository import FileRepository, ProcessRepository
from kommune_documents.files.schemas import FileCreate, ProcessCreate

BERLIN = ZoneInfo("Europe/Berlin")
"""File numbers count per calendar year of the city, not of UTC."""

NOT_FOUND = "No such case file."


def file_number(plan_code: str, year: int, sequence: int) -> str:
    return f"{plan_code}/{year}/{sequence:04d}"


class FileService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.files = FileRepository(session)
        self.processes = ProcessRepository(session)
        self.plan = PlanUnitRepository(session)
        self.audit = AuditTrail(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- access ------------------------------------------------------------------------------

    async def access_to(self, principal: Principal, case_file: CaseFile) -> FileAccess:
        named = await self.files.is_named(case_file.id, principal.sub)
        return file_access(
            principal,
            department=case_file.department,
            confidentiality=case_file.confidentiality,
            named=named,
        )

    async def readable(
        self,
        principal: Principal,
        file_id: uuid.UUID,
        action: Action,
        *,
        for_update: bool = False,
        document_id: uuid.UUID | None = None,
    ) -> tuple[CaseFile, FileAccess]:
        """The file and the caller's access to it; 404 (audited) unless they may read it."""
        case_file = await self.files.find(file_id, for_update=for_update)
        access = NO_ACCESS if case_file is None else await self.access_to(principal, case_file)
        if case_file is None or not access.read:
            if case_file is not None:
                await self.audit.record_denied(
                    principal,
                    action,
                    file_id=file_id,
                    document_id=document_id,
                    detail={"reason": "no_access"},
                )
            raise NotFound(NOT_FOUND)
        return case_file, access

    async def writable(self, principal: Principal, file_id: uuid.UUID, action: Action) -> CaseFile:
        """The file, row-locked; 404 unless readable, 403 (audited) unless writable."""
        case_file, access = await self.readable(principal, file_id, action, for_update=True)
        if not access.write:
            await self.audit.record_denied(
                principal, action, file_id=file_id, detail={"reason": "read_only"}
            )
            raise Forbidden("You may read this case file, not change it.")
        return case_file

    @staticmethod
    def require_open(case_file: CaseFile) -> None:
        if case_file.status != Status.OPEN:
            raise Conflict(f"The case file {case_file.file_number} is closed.")

    # -- files -------------------------------------------------------------------------------

    async def create(self, principal: Principal, body: FileCreate) -> CaseFile:
        require(principal, Permission.CREATE_FILES)
        department = body.department or principal.department
        if department is None:
            raise InvalidInput(
                "Name the owning department (your token carries none).", field="department"
            )
        if department != principal.department and not can(principal, Permission.ALL_FILES):
            raise Forbidden("Caseworkers open files for their own department only.")
        plan_unit = await self.plan.find(body.plan_unit_id)
        if plan_unit is None:
            raise InvalidInput("No such plan unit.", field="plan_unit_id")
        case_file = await self.open_file(
            plan_unit,
            title=body.title,
            department=department,
            confidentiality=body.confidentiality,
            created_by=principal.sub,
            readers=[principal.sub, *body.readers],
        )
        self.audit.record(
            principal,
            Action.FILE_CREATED,
            file_id=case_file.id,
            detail={"file_number": case_file.file_number},
        )
        return case_file

    async def open_file(
        self,
        plan_unit: PlanUnit,
        *,
        title: str,
        department: str,
        confidentiality: Confidentiality,
        created_by: str,
        readers: Iterable[str] = (),
        file_id: uuid.UUID | None = None,
        source_key: str | None = None,
    ) -> CaseFile:
        """A new file with the next number of its plan unit (no permission check: callers do)."""
        now = utc_now()
        if not is_valid_on(plan_unit, now.astimezone(BERLIN).date()):
            raise InvalidInput(
                f"The plan unit {plan_unit.code} is not valid today.", field="plan_unit_id"
            )
        year = now.astimezone(BERLIN).year
        sequence = await self.files.next_sequence(plan_unit.id, year)
        case_file = await self.files.add(
            CaseFile(
                id=file_id or uuid.uuid4(),
                plan_unit_id=plan_unit.id,
                file_number=file_number(plan_unit.code, year, sequence),
                year=year,
                sequence=sequence,
                title=title,
                department=department,
                confidentiality=confidentiality,
                status=Status.OPEN,
                opened_at=now,
                created_by=created_by,
                source_key=source_key,
                updated_at=now,
            )
        )
        for subject in dict.fromkeys(readers):
            self.session.add(FileReader(file_id=case_file.id, subject=subject, added_by=created_by))
        await self.session.flush()
        await self.outbox.add(
            events.file_event(
                events.FILE_CREATED,
                case_file.id,
                events.FileCreatedV1(
                    file_id=case_file.id,
                    file_number=case_file.file_number,
                    plan_unit_id=plan_unit.id,
                    plan_code=plan_unit.code,
                    department=department,
                    confidentiality=events.Confidentiality(confidentiality),
                    opened_at=now,
                ),
                subject=case_file.file_number,
            )
        )
        return case_file

    async def browse(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        file_number: str | None = None,
        plan_unit_id: uuid.UUID | None = None,
        status: Status | None = None,
        department: str | None = None,
    ) -> tuple[list[CaseFile], str | None]:
        require(principal, Permission.READ_FILES)
        return await self.files.page(
            principal,
            page,
            file_number=file_number,
            plan_unit_id=plan_unit_id,
            status=status,
            department=department,
        )

    async def get(
        self, principal: Principal, file_id: uuid.UUID
    ) -> tuple[CaseFile, FileAccess, list[str]]:
        require(principal, Permission.READ_FILES)
        case_file, access = await self.readable(principal, file_id, Action.FILE_READ)
        self.audit.record(principal, Action.FILE_READ, file_id=file_id)
        return case_file, access, await self.files.readers(file_id)

    async def close(self, principal: Principal, file_id: uuid.UUID) -> CaseFile:
        require(principal, Permission.EDIT_FILES)
        case_file = await self.writable(principal, file_id, Action.FILE_CLOSED)
        self.require_open(case_file)
        open_processes = await self.processes.open_count(file_id)
        if open_processes:
            raise Conflict(f"Close the file's {open_processes} open process(es) first.")
        plan_unit = await self.plan.get(case_file.plan_unit_id)
        now = utc_now()
        case_file.status = Status.CLOSED
        case_file.closed_at = now
        case_file.updated_at = now
        await self.session.flush()
        self.audit.record(principal, Action.FILE_CLOSED, file_id=file_id)
        await self.outbox.add(
            events.file_event(
                events.FILE_CLOSED,
                case_file.id,
                events.FileClosedV1(
                    file_id=case_file.id,
                    file_number=case_file.file_number,
                    plan_unit_id=plan_unit.id,
                    plan_code=plan_unit.code,
                    department=case_file.department,
                    confidentiality=events.Confidentiality(case_file.confidentiality),
                    closed_at=now,
                ),
                subject=case_file.file_number,
            )
        )
        return case_file

    async def add_reader(self, principal: Principal, file_id: uuid.UUID, subject: str) -> None:
        require(principal, Permission.MANAGE_READERS)
        await self.writable(principal, file_id, Action.READER_ADDED)
        if await self.files.reader(file_id, subject) is not None:
            raise Conflict("This person is named on the file already.")
        self.session.add(FileReader(file_id=file_id, subject=subject, added_by=principal.sub))
        await self.session.flush()
        self.audit.record(
            principal, Action.READER_ADDED, file_id=file_id, detail={"subject": subject}
        )

    async def remove_reader(self, principal: Principal, file_id: uuid.UUID, subject: str) -> None:
        require(principal, Permission.MANAGE_READERS)
        await self.writable(principal, file_id, Action.READER_REMOVED)
        reader = await self.files.reader(file_id, subject)
        if reader is None:
            raise NotFound("This person is not named on the file.")
        await self.session.delete(reader)
        await self.session.flush()
        self.audit.record(
            principal, Action.READER_REMOVED, file_id=file_id, detail={"subject": subject}
        )

    # -- processes ---------------------------------------------------------------------------

    async def create_process(
        self, principal: Principal, file_id: uuid.UUID, body: ProcessCreate
    ) -> Process:
        require(principal, Permission.EDIT_FILES)
        case_file = await self.writable(principal, file_id, Action.PROCESS_CREATED)
        process = await self.open_process(case_file, title=body.title, created_by=principal.sub)
        self.audit.record(
            principal,
            Action.PROCESS_CREATED,
            file_id=file_id,
            detail={"process_id": str(process.id)},
        )
        return process

    async def open_process(
        self,
        case_file: CaseFile,
        *,
        title: str,
        created_by: str,
        source: str | None = None,
        source_id: uuid.UUID | None = None,
        reference: str | None = None,
        opened_at: datetime | None = None,
    ) -> Process:
        """A new process in ``case_file``, which the caller holds locked."""
        self.require_open(case_file)
        process = Process(
            file_id=case_file.id,
            sequence=await self.processes.next_sequence(case_file.id),
            title=title,
            status=Status.OPEN,
            opened_at=opened_at or utc_now(),
            created_by=created_by,
            source=source,
            source_id=source_id,
            reference=reference,
        )
        return await self.processes.add(process)

    async def processes_of(
        self, principal: Principal, file_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[Process], str | None]:
        require(principal, Permission.READ_FILES)
        await self.readable(principal, file_id, Action.PROCESS_READ)
        self.audit.record(principal, Action.PROCESS_READ, file_id=file_id)
        return await self.processes.page(file_id, page)

    async def get_process(
        self, principal: Principal, file_id: uuid.UUID, process_id: uuid.UUID
    ) -> Process:
        require(principal, Permission.READ_FILES)
        await self.readable(principal, file_id, Action.PROCESS_READ)
        process = await self.processes.in_file(file_id, process_id)
        if process is None:
            raise NotFound("No such process in this file.")
        self.audit.record(
            principal,
            Action.PROCESS_READ,
            file_id=file_id,
            detail={"process_id": str(process_id)},
        )
        return process

    async def close_process(
        self, principal: Principal, file_id: uuid.UUID, process_id: uuid.UUID
    ) -> Process:
        require(principal, Permission.EDIT_FILES)
        await self.writable(principal, file_id, Action.PROCESS_CLOSED)
        process = await self.processes.in_file(file_id, process_id)
        if process is None:
            raise NotFound("No such process in this file.")
        if process.status != Status.OPEN:
            raise Conflict("The process is closed already.")
        process.status = Status.CLOSED
        process.closed_at = utc_now()
        await self.session.flush()
        self.audit.record(
            principal,
            Action.PROCESS_CLOSED,
            file_id=file_id,
            detail={"process_id": str(process_id)},
        )
        return process
