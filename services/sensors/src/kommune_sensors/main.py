"""The sensors service application: ``uvicorn kommune_sensors.main:app``."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from kommune.app import create_service_app, lazy_app
from kommune_sensors import events
from kommune_sensors.alerts.api import router as alerts_router
from kommune_sensors.devices.api import router as devices_router
from kommune_sensors.ingestion.api import router as ingestion_router
from kommune_sensors.opendata.api import router as opendata_router
from kommune_sensors.runtime import sensors_lifespan
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.social.api import router as social_router
from kommune_sensors.sta.api import router as sta_router
from kommune_sensors.traffic.api import router as traffic_router
from kommune_sensors.waste.api import router as waste_router

DESCRIPTION = """\
Smart-city sensors of the Digitale Kommune Heidenheim: the device registry (things, datastreams,
device keys), high-volume ingestion of anonymous readings (Kafka, then PostgreSQL in batches).
Devices authenticate with their `X-API-Key`; people with a bearer token. The OGC SensorThings
API 1.1 is at `/sta/v1.1`: anonymous callers read published things' data, staff all, operators
write. The "Ich für uns" social map is at `/api/v1/social`, open data (DCAT-AP.de) at
`/api/v1/opendata`.
"""

ROUTERS = (
    devices_router,
    ingestion_router,
    alerts_router,
    sta_router,
    waste_router,
    traffic_router,
    social_router,
    opendata_router,
)
INGEST_PATH = "/api/v1/sensors/observations"


def create_app(
    settings: SensorsSettings | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or SensorsSettings()
    return create_service_app(
        settings,
        title="Kommune sensors",
        description=DESCRIPTION,
        routers=ROUTERS,
        topics=events.declared_topics(),
        consumers=[],
        http_transport=http_transport,
        lifespan=sensors_lifespan(settings),
        body_limits={INGEST_PATH: settings.ingest_max_body_bytes},
    )


__getattr__ = lazy_app(create_app)
"""``kommune_sensors.main:app`` (what the server imports) is built on first access."""
