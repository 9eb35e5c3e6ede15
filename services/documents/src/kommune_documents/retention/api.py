"""Retention endpoints: legal holds on files, due files, disposal runs (records managers)."""

from __future__ import annotations

import os
import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import BackgroundTasks, Depends, Request, Response, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.documents.backends import content_store
from kommune_documents.documents.storage import ContentStore
from kommune_documents.files.schemas import FileOut
from kommune_documents.retention.models import DisposalItem, DisposalRun
from kommune_documents.retention.schemas import (
    AppraisalSet,
    DueFileOut,
    ItemOut,
    LegalHoldSet,
    RunOut,
)
from kommune_documents.retention.service import RetentionService

MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_RETENTION))]

holds = service_router("/api/v1/files", tags=["retention"])
router = service_router("/api/v1/retention", tags=["retention"])


def _store(request: Request) -> ContentStore:
    return content_store(request)


def _service(request: Request, session: DbSession) -> RetentionService:
    return RetentionService(session, _store(request))


Retention = Annotated[RetentionService, Depends(_service)]


def _run_out(run: DisposalRun, items: list[DisposalItem]) -> RunOut:
    return RunOut.model_validate(
        {
            "id": run.id,
            "state": run.state,
            "created_by": run.created_by,
            "created_at": run.created_at,
            "completed_at": run.completed_at,
            "items": [ItemOut.model_validate(item) for item in items],
        }
    )


@holds.put("/{file_id}/legal-hold", summary="Put a file on legal hold (nothing is disposed)")
async def set_legal_hold(
    file_id: uuid.UUID, body: LegalHoldSet, retention: Retention, principal: MayManage
) -> FileOut:
    return FileOut.model_validate(await retention.set_hold(principal, file_id, body.reason))


@holds.delete("/{file_id}/legal-hold", summary="Lift a legal hold")
async def clear_legal_hold(
    file_id: uuid.UUID, retention: Retention, principal: MayManage
) -> FileOut:
    return FileOut.model_validate(await retention.clear_hold(principal, file_id))


@router.get("/due", summary="Closed files whose retention period has passed (not on hold)")
async def due_files(
    retention: Retention, principal: MayManage, page: PageParams
) -> Page[DueFileOut]:
    rows, next_cursor = await retention.due(principal, page)
    return Page(items=[DueFileOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/runs", status_code=status.HTTP_201_CREATED, summary="Offer every due file to the archive"
)
async def start_run(retention: Retention, principal: MayManage) -> RunOut:
    return _run_out(*await retention.start_run(principal))


@router.get("/runs/{run_id}", summary="A disposal run with its files")
async def get_run(run_id: uuid.UUID, retention: Retention, principal: MayManage) -> RunOut:
    return _run_out(*await retention.run(principal, run_id))


@router.get(
    "/runs/{run_id}/offer",
    summary="The offer to the archive (xdomea 0501)",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "xdomea 0501"}},
)
async def offer(run_id: uuid.UUID, retention: Retention, principal: MayManage) -> Response:
    return Response(await retention.offer(principal, run_id), media_type="application/xml")


@router.post("/runs/{run_id}/appraisal", summary="Apply the archive's appraisal (xdomea 0502)")
async def appraise(
    run_id: uuid.UUID, body: AppraisalSet, retention: Retention, principal: MayManage
) -> RunOut:
    return _run_out(*await retention.appraise(principal, run_id, body))


@router.get(
    "/runs/{run_id}/handover",
    summary="The hand-over package (xdomea 0503: ZIP of metadata and content)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "xdomea 0503"}},
)
async def handover(
    run_id: uuid.UUID, request: Request, retention: Retention, principal: MayManage
) -> Response:
    store = _store(request)
    store.prepare()
    fd, name = tempfile.mkstemp(dir=store.tmp, suffix=".zip")
    os.close(fd)
    target = Path(name)
    try:
        await retention.handover(principal, run_id, target)
    except BaseException:
        await anyio.to_thread.run_sync(partial(target.unlink, missing_ok=True))
        raise
    return FileResponse(
        target,
        media_type="application/zip",
        filename=f"xdomea-0503-{run_id}.zip",
        background=BackgroundTask(target.unlink, missing_ok=True),
    )


@router.post(
    "/runs/{run_id}/confirm",
    summary="The archive confirmed the import (xdomea 0506): delete the content, keep tombstones",
)
async def confirm(
    run_id: uuid.UUID,
    request: Request,
    retention: Retention,
    principal: MayManage,
    background: BackgroundTasks,
) -> RunOut:
    disposed = await retention.confirm(principal, run_id)
    store = _store(request)
    # After the commit (the unit of work ends before the response is sent).
    for sha256 in disposed.unused_content:
        background.add_task(store.delete, sha256)
    return _run_out(disposed.run, disposed.items)
