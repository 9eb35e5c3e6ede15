"""The egov service application: ``uvicorn kommune_egov.main:app``."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from kommune.app import create_service_app, lazy_app
from kommune_egov import events
from kommune_egov.applications.api import router as applications_router
from kommune_egov.applications.consumers import filing_consumer
from kommune_egov.appointments.api import router as appointments_router
from kommune_egov.attachments.api import router as attachments_router
from kommune_egov.catalogue.api import router as catalogue_router
from kommune_egov.lifecycle import egov_lifespan
from kommune_egov.mailbox.api import router as mailbox_router
from kommune_egov.open311.api import PREFIX as OPEN311_PREFIX
from kommune_egov.open311.api import router as open311_router
from kommune_egov.open311.clients_api import router as open311_clients_router
from kommune_egov.open311.openapi import install_open311_openapi
from kommune_egov.settings import EgovSettings
from kommune_egov.webhooks.api import router as webhooks_router
from kommune_egov.workorders.consumers import alert_consumer

DESCRIPTION = """\
Citizen e-services of the city of Heidenheim: the public service catalogue with versioned
application forms, applications with their case history, the citizen mailbox, Open311 damage
reports and appointment booking. Citizens see only their own applications and mailbox;
caseworkers work their department's queue.
"""

ROUTERS = (
    catalogue_router,
    applications_router,
    attachments_router,
    mailbox_router,
    webhooks_router,
    appointments_router,
    open311_router,
    open311_clients_router,
)


def create_app(
    settings: EgovSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or EgovSettings()
    app = create_service_app(
        settings,
        title="Kommune egov",
        description=DESCRIPTION,
        routers=ROUTERS,
        topics=events.declared_topics(),
        consumers=[filing_consumer(settings), alert_consumer(settings)],
        http_transport=http_transport,
        lifespan=egov_lifespan(settings),
        body_limits={
            "/api/v1/attachments": settings.attachment_max_bytes + 64 * 1024,
            "/open311/v2": settings.attachment_max_bytes + 64 * 1024,  # POST requests + media
        },
    )
    install_open311_openapi(app, OPEN311_PREFIX)  # after the runtime's problem documentation
    return app


__getattr__ = lazy_app(create_app)
"""``kommune_egov.main:app`` (what the server imports) is built on first access."""
