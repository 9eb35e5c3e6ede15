"""The documents service application: ``uvicorn kommune_documents.main:app``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kommune.app import create_service_app, lazy_app
from kommune_documents import events
from kommune_documents.audit.api import router as audit_router
from kommune_documents.documents.api import router as documents_router
from kommune_documents.documents.backends import build_store
from kommune_documents.fileplan.api import router as fileplan_router
from kommune_documents.files.api import router as files_router
from kommune_documents.filing.consumers import filing_consumer
from kommune_documents.invoices.api import router as invoices_router
from kommune_documents.invoices.validation import warm_up
from kommune_documents.mailroom.api import router as mailroom_router
from kommune_documents.ocr.consumer import ocr_consumer
from kommune_documents.retention.api import holds as holds_router
from kommune_documents.retention.api import router as retention_router
from kommune_documents.search.api import router as search_router
from kommune_documents.settings import DocumentsSettings

DESCRIPTION = """\
The E-Akte of the Digitale Kommune Heidenheim: the file plan, case files with processes and
versioned documents, streaming uploads into a content-addressed store, full-text search and an
append-only audit trail. City staff only; which files a person sees depends on their role,
their department and the files they are named on. Citizens get 403.
"""

ROUTERS = (
    fileplan_router,
    files_router,
    audit_router,
    holds_router,
    documents_router,
    search_router,
    retention_router,
    invoices_router,
    mailroom_router,
)

UPLOAD_PREFIX = "/api/v1/documents"
INVOICE_PREFIX = "/api/v1/invoices"
MAILROOM_PREFIX = "/api/v1/mailroom"


def create_app(
    settings: DocumentsSettings | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or DocumentsSettings()

    @asynccontextmanager
    async def prepare_store(app: FastAPI) -> AsyncIterator[Mapping[str, Any] | None]:
        store = build_store(settings)
        await store.check()  # fails closed: a store that refuses access stops the start-up
        # The XRechnung rules compile in ~6 s: in a worker thread, not on the first invoice
        # (awaited at shutdown: a compiling thread cannot be interrupted).
        compiling = asyncio.get_running_loop().run_in_executor(None, warm_up)
        try:
            yield {"content_store": store}
        finally:
            await compiling

    return create_service_app(
        settings,
        title="Kommune documents",
        description=DESCRIPTION,
        routers=ROUTERS,
        topics=events.declared_topics(settings.egov_application_topic),
        consumers=[filing_consumer(settings), ocr_consumer(settings)],
        http_transport=http_transport,
        lifespan=prepare_store,
        body_limits={
            UPLOAD_PREFIX: settings.upload_body_limit,
            INVOICE_PREFIX: settings.max_invoice_bytes,
            MAILROOM_PREFIX: settings.upload_body_limit,
        },
    )


__getattr__ = lazy_app(create_app)
"""``kommune_documents.main:app`` (what the server imports) is built on first access."""
