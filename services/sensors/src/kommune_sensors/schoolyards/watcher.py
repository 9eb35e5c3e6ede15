"""The background task that evaluates the schoolyards every ``schoolyard_interval_seconds``."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from kommune.db import create_engine, create_sessionmaker
from kommune_sensors.schoolyards.service import evaluate_schoolyards
from kommune_sensors.settings import SensorsSettings

log = structlog.get_logger(__name__)


class SchoolyardWatcher:
    def __init__(self, settings: SensorsSettings) -> None:
        self.settings = settings
        self._engine = create_engine(
            settings.database_url, pool_size=1, application_name="sensors-schoolyards"
        )
        self._sessions = create_sessionmaker(self._engine)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sensors-schoolyard-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._engine.dispose()

    async def _run(self) -> None:
        while True:
            try:
                raised, resolved = await evaluate_schoolyards(self._sessions, self.settings)
                if raised or resolved:
                    log.info("schoolyard_alerts", raised=raised, resolved=resolved)
            except Exception as error:  # the database may be away: try again next round
                log.warning("schoolyard_evaluation_failed", error=type(error).__name__)
            await asyncio.sleep(self.settings.schoolyard_interval_seconds)
