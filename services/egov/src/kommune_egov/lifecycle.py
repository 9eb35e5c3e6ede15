"""The egov service's own startup: the catalogue sync (:mod:`kommune_egov.catalogue.sync`) and
the webhook dispatcher (:mod:`kommune_egov.webhooks.dispatcher`), stopped on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from kommune.db import create_engine, create_sessionmaker, transaction
from kommune_egov.catalogue.sync import sync_catalogue
from kommune_egov.settings import EgovSettings
from kommune_egov.webhooks.dispatcher import DispatcherConfig, WebhookDispatcher

log = structlog.get_logger(__name__)


def egov_lifespan(
    settings: EgovSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any] | None]]:
    """The ``lifespan`` argument of ``create_service_app``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any] | None]:
        if settings.catalogue_sync_enabled:
            engine = create_engine(
                settings.database_url, pool_size=1, application_name="egov-catalogue-sync"
            )
            try:
                async with transaction(create_sessionmaker(engine)) as session:
                    published = await sync_catalogue(session, settings.public_base_url)
            finally:
                await engine.dispose()
            if published:
                log.info("catalogue_published", codes=published)
        if not settings.webhook_dispatch_enabled:
            yield None
            return
        engine = create_engine(settings.database_url, pool_size=2, application_name="egov-webhooks")
        dispatcher = WebhookDispatcher(
            create_sessionmaker(engine),
            DispatcherConfig(
                timeout_seconds=settings.webhook_timeout_seconds,
                max_attempts=settings.webhook_max_attempts,
                backoff_base_seconds=settings.webhook_backoff_base_seconds,
                poll_seconds=settings.webhook_poll_seconds,
                allow_private_targets=settings.webhook_allow_private_targets,
            ),
        )
        await dispatcher.start()
        try:
            yield None
        finally:
            await dispatcher.stop()
            await engine.dispose()

    return lifespan
