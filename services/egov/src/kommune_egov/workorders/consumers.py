"""Sensor alerts become work orders in the caseworkers' queue, exactly once per alert.

``sensors.alert.v1`` / ``de.kommune.sensors.alert.raised.v1``: a full waste container becomes an
``overflowing_bin`` report for the Bauhof, night activity in a schoolyard a ``schoolyard_check``
for the Ordnungsamt, both through :func:`kommune_egov.applications.service.submit` (the same
queue, history and ``submitted`` event as a citizen's report).

Exactly once: the runner's inbox row drops a redelivery of the same CloudEvent; an alert
published again under a new event id (a producer that retried) finds the work order by its
unique ``source_alert_id`` under a transaction-scoped advisory lock on the alert id, so even two
copies handled at once make one work order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.consumer import ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune_egov import events
from kommune_egov.applications.repository import ApplicationRepository
from kommune_egov.applications.service import Place, Submitter, submit
from kommune_egov.settings import EgovSettings

log = structlog.get_logger(__name__)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Location(_Tolerant):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class AlertRaised(_Tolerant):
    """What egov needs of ``de.kommune.sensors.alert.raised.v1``."""

    alert_id: uuid.UUID
    kind: Literal["waste_container_full", "schoolyard_night_activity"]
    thing_id: int | Annotated[str, Field(max_length=100)]
    thing_name: Annotated[str, Field(max_length=200)]
    location: Location
    district: Annotated[str, Field(max_length=100)] | None = None
    value: float
    threshold: float
    raised_at: datetime


def _work_order(alert: AlertRaised) -> tuple[str, dict[str, Any]]:
    where = f" ({alert.district})" if alert.district else ""
    if alert.kind == "waste_container_full":
        description = (
            f"Sensor-Alarm: Behälter „{alert.thing_name}“{where} ist zu {alert.value:.0%} voll "
            f"(Schwelle {alert.threshold:.0%}). Bitte leeren."
        )
        return "overflowing_bin", {"bin_type": "litter_bin", "description": description[:2000]}
    description = (
        f"Sensor-Alarm: nächtliche Aktivität auf dem Schulhof „{alert.thing_name}“{where} "
        f"(Messwert {alert.value:g}, Schwelle {alert.threshold:g}). Bitte kontrollieren."
    )
    return "schoolyard_check", {"description": description[:2000]}


async def open_work_order(session: AsyncSession, alert: AlertRaised) -> bool:
    """``True`` if a work order was opened, ``False`` if the alert has one already."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"kommune.egov.alert:{alert.alert_id}"},
    )
    if await ApplicationRepository(session).by_alert(alert.alert_id) is not None:
        log.info("work_order_exists", alert_id=str(alert.alert_id))
        return False
    service_code, data = _work_order(alert)
    await submit(
        session,
        Submitter.system(),
        service_code,
        data,
        place=Place(latitude=alert.location.lat, longitude=alert.location.lon),
        source_alert_id=alert.alert_id,
    )
    return True


async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
    if event.type == events.SENSOR_ALERT_RAISED:
        await open_work_order(session, AlertRaised.model_validate(event.data))


def alert_consumer(settings: EgovSettings) -> ConsumerSpec:
    return ConsumerSpec(
        group_id=f"{settings.consumer_group_prefix}.sensor-alerts",
        topics=(events.SENSOR_ALERT_TOPIC,),
        handler=handle,
        event_types=frozenset({events.SENSOR_ALERT_RAISED}),
    )
