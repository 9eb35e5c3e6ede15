"""Every table of the service, imported in one place: ``metadata`` is what Alembic compares."""

from __future__ import annotations

from kommune.events.tables import add_event_tables
from kommune_documents.audit.models import AuditEvent
from kommune_documents.base import Base
from kommune_documents.documents.models import Blob, Document, DocumentVersion
from kommune_documents.fileplan.models import PlanUnit
from kommune_documents.files.models import CaseFile, FileNumberCounter, FileReader, Process
from kommune_documents.invoices.models import Invoice
from kommune_documents.mailroom.models import MailItem, RoutingRule
from kommune_documents.retention.models import DisposalItem, DisposalRun

metadata = Base.metadata
outbox, inbox = add_event_tables(metadata)

__all__ = [
    "AuditEvent",
    "Blob",
    "CaseFile",
    "DisposalItem",
    "DisposalRun",
    "Document",
    "DocumentVersion",
    "FileNumberCounter",
    "FileReader",
    "Invoice",
    "MailItem",
    "PlanUnit",
    "Process",
    "RoutingRule",
    "inbox",
    "metadata",
    "outbox",
]
