"""Audit trail endpoints: per file, as pages or as a CSV export (records managers)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Annotated

from fastapi import Depends, Response

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import NotFound
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.audit.repository import AuditRepository
from kommune_documents.audit.schemas import AuditEventOut
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.files.models import CaseFile

MayReadAudit = Annotated[Principal, Depends(requires(Permission.READ_AUDIT))]

router = service_router("/api/v1/files", tags=["audit"])

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "actor_roles",
    "action",
    "outcome",
    "file_id",
    "document_id",
    "detail",
)


async def _file(session: DbSession, file_id: uuid.UUID) -> CaseFile:
    case_file = await session.get(CaseFile, file_id)
    if case_file is None:
        raise NotFound("No such case file.")
    return case_file


@router.get("/{file_id}/audit", summary="The audit trail of a file (records managers)")
async def file_audit(
    file_id: uuid.UUID, session: DbSession, principal: MayReadAudit, page: PageParams
) -> Page[AuditEventOut]:
    await _file(session, file_id)
    items, next_cursor = await AuditRepository(session).page(file_id, page)
    AuditTrail(session).record(principal, Action.AUDIT_READ, file_id=file_id)
    return Page(items=[AuditEventOut.model_validate(e) for e in items], next_cursor=next_cursor)


@router.get(
    "/{file_id}/audit/export",
    summary="Export the whole audit trail of a file as CSV (records managers)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per event."}},
)
async def export_file_audit(
    file_id: uuid.UUID, session: DbSession, principal: MayReadAudit
) -> Response:
    case_file = await _file(session, file_id)
    AuditTrail(session).record(principal, Action.AUDIT_EXPORTED, file_id=file_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for event in AuditRepository(session).all_of(file_id):
        writer.writerow(
            [
                event.id,
                event.occurred_at.isoformat(),
                event.actor,
                event.actor_roles,
                event.action,
                event.outcome,
                event.file_id or "",
                event.document_id or "",
                json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
            ]
        )
    name = case_file.file_number.replace("/", "-")
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{name}.csv"'},
    )
