"""Every table of the service, imported in one place: ``metadata`` is what Alembic compares."""

from __future__ import annotations

from kommune.events.tables import add_event_tables
from kommune_egov.appointments.models import (
    Appointment,
    AppointmentLocation,
    AppointmentOffer,
    AppointmentSlot,
    OpeningRule,
)
from kommune_egov.base import Base
from kommune_egov.catalogue.models import EService, ServiceForm

metadata = Base.metadata
outbox, inbox = add_event_tables(metadata)

__all__ = [
    "Appointment",
    "AppointmentLocation",
    "AppointmentOffer",
    "AppointmentSlot",
    "EService",
    "OpeningRule",
    "ServiceForm",
    "inbox",
    "metadata",
    "outbox",
]
