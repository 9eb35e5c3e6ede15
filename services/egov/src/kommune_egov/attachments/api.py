"""Upload a file first, then attach it (submit, a status change); download what you may see."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response, UploadFile, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import InvalidInput, PayloadTooLarge
from kommune.routing import service_router
from kommune_egov.access import Permission, requires
from kommune_egov.attachments.schemas import AttachmentOut
from kommune_egov.attachments.service import AttachmentService

MayUpload = Annotated[Principal, Depends(requires(Permission.UPLOAD_ATTACHMENTS))]
MayRead = Annotated[Principal, Depends(requires(Permission.READ_APPLICATIONS))]

router = service_router("/api/v1/attachments", tags=["attachments"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a PDF, JPEG or PNG (multipart field `file`; the type is read from the bytes)",
)
async def upload_attachment(
    file: UploadFile, request: Request, session: DbSession, principal: MayUpload
) -> AttachmentOut:
    max_bytes: int = request.state.settings.attachment_max_bytes
    content = await file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"An attachment may have at most {max_bytes} bytes.")
    if not content:
        raise InvalidInput(
            "The file is empty.",
            errors=[{"loc": ["body", "file"], "msg": "Empty file.", "type": "value_error"}],
        )
    attachment = await AttachmentService(session).upload(
        principal, file.filename, content, max_bytes
    )
    return AttachmentOut.model_validate(attachment)


@router.get(
    "/{attachment_id}",
    summary="Download a file (its uploader, the case's people, the mailbox recipient)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
)
async def download_attachment(
    attachment_id: uuid.UUID, session: DbSession, principal: MayRead
) -> Response:
    attachment = await AttachmentService(session).readable(principal, attachment_id)
    return Response(
        content=attachment.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
