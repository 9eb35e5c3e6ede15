"""Document endpoints (``/api/v1/documents``): streaming uploads, versions, downloads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.documents.backends import content_store
from kommune_documents.documents.responses import CONTENT_RESPONSES, content_response
from kommune_documents.documents.schemas import (
    UPLOAD_OPENAPI,
    VERSION_OPENAPI,
    DocumentDetail,
    DocumentOut,
    VersionOut,
)
from kommune_documents.documents.service import DocumentService, Stored
from kommune_documents.documents.upload import receive_upload
from kommune_documents.settings import DocumentsSettings

MayRead = Annotated[Principal, Depends(requires(Permission.READ_FILES))]
MayEdit = Annotated[Principal, Depends(requires(Permission.EDIT_FILES))]

router = service_router("/api/v1/documents", tags=["documents"])


def _settings(request: Request) -> DocumentsSettings:
    settings: DocumentsSettings = request.state.settings
    return settings


def _service(request: Request, session: DbSession) -> DocumentService:
    settings = _settings(request)
    return DocumentService(session, content_store(request), settings.max_extract_bytes)


Documents = Annotated[DocumentService, Depends(_service)]


def _detail(stored: Stored, *, upload: bool = False) -> DocumentDetail:
    return DocumentDetail.model_validate(
        {
            **DocumentOut.model_validate(stored.document).model_dump(),
            "versions": [VersionOut.model_validate(v) for v in stored.versions],
            "attachments": [DocumentOut.model_validate(a) for a in stored.attachments],
            "deduplicated": stored.deduplicated if upload else None,
        }
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a new document (multipart: file_id, process_id?, title?, content)",
    openapi_extra=UPLOAD_OPENAPI,
)
async def upload_document(
    request: Request, documents: Documents, principal: MayEdit
) -> DocumentDetail:
    upload = await receive_upload(request, documents.store, _settings(request).max_upload_bytes)
    try:
        stored = await documents.create(principal, upload)
    finally:
        upload.discard()  # published content was moved away; anything left is a refusal's
    return _detail(stored, upload=True)


@router.post(
    "/{document_id}/versions",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a new version (multipart: content); earlier versions are kept",
    openapi_extra=VERSION_OPENAPI,
)
async def upload_version(
    document_id: uuid.UUID, request: Request, documents: Documents, principal: MayEdit
) -> DocumentDetail:
    upload = await receive_upload(request, documents.store, _settings(request).max_upload_bytes)
    try:
        stored = await documents.add_version(principal, document_id, upload)
    finally:
        upload.discard()
    return _detail(stored, upload=True)


@router.get("", summary="List the documents you may read (newest first)")
async def list_documents(
    documents: Documents,
    principal: MayRead,
    page: PageParams,
    file_id: uuid.UUID | None = None,
    process_id: uuid.UUID | None = None,
) -> Page[DocumentOut]:
    items, next_cursor = await documents.browse(
        principal, page, file_id=file_id, process_id=process_id
    )
    return Page(items=[DocumentOut.model_validate(d) for d in items], next_cursor=next_cursor)


@router.get("/{document_id}", summary="Get a document with its versions")
async def get_document(
    document_id: uuid.UUID, documents: Documents, principal: MayRead
) -> DocumentDetail:
    return _detail(await documents.get(principal, document_id))


@router.get(
    "/{document_id}/content",
    summary="Download the current version (ETag, Range)",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
async def download_current(
    document_id: uuid.UUID, request: Request, documents: Documents, principal: MayRead
) -> Response:
    download = await documents.download(principal, document_id, None)
    return await content_response(documents.store, download.version, request)


@router.get(
    "/{document_id}/versions/{version}/content",
    summary="Download one version (ETag, Range)",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
async def download_version(
    document_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    request: Request,
    documents: Documents,
    principal: MayRead,
) -> Response:
    download = await documents.download(principal, document_id, version)
    return await content_response(documents.store, download.version, request)
