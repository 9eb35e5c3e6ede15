"""Which content store this process uses (``DOCUMENTS_STORAGE_BACKEND``)."""

from __future__ import annotations

from fastapi import Request

from kommune_documents.documents.s3store import S3Store
from kommune_documents.documents.storage import ContentStore, FilesystemStore
from kommune_documents.settings import DocumentsSettings


def build_store(settings: DocumentsSettings) -> ContentStore:
    """The configured store; S3 only with complete settings (checked by the settings)."""
    if settings.storage_backend == "s3":
        return S3Store(settings)
    return FilesystemStore(settings.storage_path)


def content_store(request: Request) -> ContentStore:
    """The process's store, built once at start-up (lifespan state ``content_store``)."""
    store: ContentStore = request.state.content_store
    return store
