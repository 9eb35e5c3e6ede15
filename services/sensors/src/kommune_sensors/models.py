"""Every table of the service, imported in one place: ``metadata`` is what Alembic compares."""

from __future__ import annotations

from kommune.events.tables import add_event_tables
from kommune_sensors.alerts.models import Alert
from kommune_sensors.base import Base
from kommune_sensors.devices.models import (
    Datastream,
    DeviceKey,
    HistoricalLocation,
    HistoricalLocationLocation,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
    ThingLocation,
)
from kommune_sensors.ingestion.models import Observation, ObservationDaily, ObservationHourly
from kommune_sensors.schoolyards.models import SchoolyardWatch
from kommune_sensors.social.models import SocialRecord

metadata = Base.metadata
outbox, inbox = add_event_tables(metadata)

__all__ = [
    "Alert",
    "Datastream",
    "DeviceKey",
    "HistoricalLocation",
    "HistoricalLocationLocation",
    "Location",
    "Observation",
    "ObservationDaily",
    "ObservationHourly",
    "ObservedProperty",
    "SchoolyardWatch",
    "Sensor",
    "SocialRecord",
    "Thing",
    "ThingLocation",
    "inbox",
    "metadata",
    "outbox",
]
