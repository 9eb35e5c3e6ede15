"""The ideas service application: ``uvicorn kommune_ideas.main:app``."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from kommune.app import create_service_app, lazy_app
from kommune_ideas import events
from kommune_ideas.chronicle.api import router as chronicle_router
from kommune_ideas.chronicle.consumers import chronicle_consumer
from kommune_ideas.comments.api import router as comments_router
from kommune_ideas.departments.api import router as departments_router
from kommune_ideas.faq.api import router as faq_router
from kommune_ideas.ideas.api import router as ideas_router
from kommune_ideas.meetings.api import router as meetings_router
from kommune_ideas.participation.api import router as participation_router
from kommune_ideas.settings import IdeasSettings

DESCRIPTION = """\
The staff intranet of the Digitale Kommune Heidenheim: the change agents' forum and the idea
store, the leaders' decision forum, innovation circles, the chronicle and the FAQ.
Every endpoint needs a bearer token of a staff member; citizens get 403.
"""


ROUTERS = (
    ideas_router,
    comments_router,
    participation_router,
    meetings_router,
    chronicle_router,
    faq_router,
    departments_router,
)


def create_app(
    settings: IdeasSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or IdeasSettings()
    return create_service_app(
        settings,
        title="Kommune ideas",
        description=DESCRIPTION,
        routers=ROUTERS,
        topics=events.declared_topics(settings.egov_service_topic),
        consumers=[chronicle_consumer(settings)],
        http_transport=http_transport,
    )


__getattr__ = lazy_app(create_app)
"""``kommune_ideas.main:app`` (what the server imports) is built on first access."""
