"""The service's own start and stop: the observation producer, the writer and its maintenance."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from kommune.db import asyncpg_dsn
from kommune_sensors.ingestion.producer import ObservationProducer
from kommune_sensors.ingestion.writer import ObservationWriter
from kommune_sensors.schoolyards.watcher import SchoolyardWatcher
from kommune_sensors.settings import SensorsSettings


def sensors_lifespan(
    settings: SensorsSettings,
) -> Any:
    """The ``lifespan`` for :func:`kommune.app.create_service_app`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        producer = ObservationProducer(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic_prefix,
            settings.produce_timeout_seconds,
        )
        await producer.start()
        writer: ObservationWriter | None = None
        if settings.consumers_enabled and settings.writer_enabled:
            writer = ObservationWriter(settings, asyncpg_dsn(settings.database_url))
            await writer.start()
        watcher: SchoolyardWatcher | None = None
        if settings.consumers_enabled:
            watcher = SchoolyardWatcher(settings)
            await watcher.start()
        try:
            yield {"observation_producer": producer, "observation_writer": writer}
        finally:
            if watcher is not None:
                await watcher.stop()
            if writer is not None:
                await writer.stop()
            await producer.stop()

    def factory(app: FastAPI) -> AbstractAsyncContextManager[Mapping[str, Any] | None]:
        return lifespan(app)

    return factory
