"""Case file and process endpoints (``/api/v1/files``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Query, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.schemas import Code, SubjectId
from kommune_documents.access import Permission, requires
from kommune_documents.files.models import Status
from kommune_documents.files.schemas import (
    FileCreate,
    FileDetail,
    FileNumber,
    FileOut,
    ProcessCreate,
    ProcessOut,
    ReaderCreate,
)
from kommune_documents.files.service import FileService

MayRead = Annotated[Principal, Depends(requires(Permission.READ_FILES))]
MayCreate = Annotated[Principal, Depends(requires(Permission.CREATE_FILES))]
MayEdit = Annotated[Principal, Depends(requires(Permission.EDIT_FILES))]
MayManageReaders = Annotated[Principal, Depends(requires(Permission.MANAGE_READERS))]

router = service_router("/api/v1/files", tags=["files"])


@router.get("", summary="List the case files you may read (newest first)")
async def list_files(
    session: DbSession,
    principal: MayRead,
    page: PageParams,
    file_number: Annotated[FileNumber | None, Query(description="Exactly this number.")] = None,
    plan_unit_id: uuid.UUID | None = None,
    status: Status | None = None,
    department: Annotated[Code | None, Query()] = None,
) -> Page[FileOut]:
    items, next_cursor = await FileService(session).browse(
        principal,
        page,
        file_number=file_number,
        plan_unit_id=plan_unit_id,
        status=status,
        department=department,
    )
    return Page(items=[FileOut.model_validate(f) for f in items], next_cursor=next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Open a case file")
async def create_file(body: FileCreate, session: DbSession, principal: MayCreate) -> FileDetail:
    service = FileService(session)
    case_file = await service.create(principal, body)
    readers = await service.files.readers(case_file.id)
    return FileDetail.model_validate(
        {**FileOut.model_validate(case_file).model_dump(), "readers": readers, "may_write": True}
    )


@router.get("/{file_id}", summary="Get a case file (404 unless you may read it)")
async def get_file(file_id: uuid.UUID, session: DbSession, principal: MayRead) -> FileDetail:
    case_file, access, readers = await FileService(session).get(principal, file_id)
    return FileDetail.model_validate(
        {
            **FileOut.model_validate(case_file).model_dump(),
            "readers": readers,
            "may_write": access.write,
        }
    )


@router.post("/{file_id}/close", summary="Close a case file (starts its retention)")
async def close_file(file_id: uuid.UUID, session: DbSession, principal: MayEdit) -> FileOut:
    return FileOut.model_validate(await FileService(session).close(principal, file_id))


@router.post(
    "/{file_id}/readers",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Name a reader of the file",
)
async def add_reader(
    file_id: uuid.UUID, body: ReaderCreate, session: DbSession, principal: MayManageReaders
) -> Response:
    await FileService(session).add_reader(principal, file_id, body.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{file_id}/readers/{subject}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a named reader",
)
async def remove_reader(
    file_id: uuid.UUID,
    subject: Annotated[SubjectId, Path()],
    session: DbSession,
    principal: MayManageReaders,
) -> Response:
    await FileService(session).remove_reader(principal, file_id, subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{file_id}/processes", summary="List the processes of a file")
async def list_processes(
    file_id: uuid.UUID, session: DbSession, principal: MayRead, page: PageParams
) -> Page[ProcessOut]:
    items, next_cursor = await FileService(session).processes_of(principal, file_id, page)
    return Page(items=[ProcessOut.model_validate(p) for p in items], next_cursor=next_cursor)


@router.post("/{file_id}/processes", status_code=status.HTTP_201_CREATED, summary="Open a process")
async def create_process(
    file_id: uuid.UUID, body: ProcessCreate, session: DbSession, principal: MayEdit
) -> ProcessOut:
    return ProcessOut.model_validate(
        await FileService(session).create_process(principal, file_id, body)
    )


@router.get("/{file_id}/processes/{process_id}", summary="Get a process")
async def get_process(
    file_id: uuid.UUID, process_id: uuid.UUID, session: DbSession, principal: MayRead
) -> ProcessOut:
    return ProcessOut.model_validate(
        await FileService(session).get_process(principal, file_id, process_id)
    )


@router.post("/{file_id}/processes/{process_id}/close", summary="Close a process")
async def close_process(
    file_id: uuid.UUID, process_id: uuid.UUID, session: DbSession, principal: MayEdit
) -> ProcessOut:
    return ProcessOut.model_validate(
        await FileService(session).close_process(principal, file_id, process_id)
    )
