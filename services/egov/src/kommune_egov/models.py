"""Every table of the service, imported in one place: ``metadata`` is what Alembic compares."""

from __future__ import annotations

from kommune.events.tables import add_event_tables
from kommune_egov.applications.models import Application, ApplicationHistoryEntry, IdempotencyKey
from kommune_egov.appointments.models import (
    Appointment,
    AppointmentLocation,
    AppointmentOffer,
    AppointmentSlot,
    OpeningRule,
)
from kommune_egov.attachments.models import Attachment
from kommune_egov.base import Base
from kommune_egov.catalogue.models import EService, ServiceForm
from kommune_egov.mailbox.models import MailboxMessage
from kommune_egov.open311.models import Open311Client, Open311Report
from kommune_egov.webhooks.models import WebhookDelivery, WebhookSubscription

metadata = Base.metadata
outbox, inbox = add_event_tables(metadata)

__all__ = [
    "Application",
    "ApplicationHistoryEntry",
    "Appointment",
    "AppointmentLocation",
    "AppointmentOffer",
    "AppointmentSlot",
    "Attachment",
    "EService",
    "IdempotencyKey",
    "MailboxMessage",
    "Open311Client",
    "Open311Report",
    "OpeningRule",
    "ServiceForm",
    "WebhookDelivery",
    "WebhookSubscription",
    "inbox",
    "metadata",
    "outbox",
]
