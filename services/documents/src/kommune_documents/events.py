"""The events of the documents service: topics, types and payloads (one JSON Schema per type).

Payload models are generated from ``schemas/events/documents/<type>.json`` into
``kommune_schemas.generated.documents`` (``make schemas``). Payloads carry ids, codes and hashes,
never titles or text: a case file is visible to few people, a topic to every consumer.
"""

from __future__ import annotations

from kommune.event_factory import AggregateEvents
from kommune.events.outbox import declare_outbox_topics
from kommune.events.topics import DAY_MS, TopicSpec
from kommune_schemas.generated.documents import (
    Confidentiality,
    DeletionReason,
    DisposalOutcome,
    DocumentDeletedV1,
    DocumentOcrCompletedV1,
    DocumentOcrFailedV1,
    DocumentOcrRequestedV1,
    DocumentVersionAddedV1,
    FileClosedV1,
    FileCreatedV1,
    FileDisposedV1,
    FileHandedOverV1,
    FilingFiledV1,
    InvoiceReceivedV1,
    InvoiceStatus,
    InvoiceStatusChangedV1,
    MailFiledV1,
    MailReceivedV1,
    MailRoutedV1,
    Reason,
    Source,
    Syntax,
    Target,
)

__all__ = [
    "DOCUMENT_DELETED",
    "DOCUMENT_TOPIC",
    "DOCUMENT_VERSION_ADDED",
    "EGOV_APPLICATION_SUBMITTED",
    "EGOV_APPLICATION_TOPIC",
    "FILE_CLOSED",
    "FILE_CREATED",
    "FILE_DISPOSED",
    "FILE_HANDED_OVER",
    "FILE_TOPIC",
    "FILING_FILED",
    "FILING_TOPIC",
    "INVOICE_RECEIVED",
    "INVOICE_STATUS_CHANGED",
    "INVOICE_TOPIC",
    "MAIL_FILED",
    "MAIL_RECEIVED",
    "MAIL_ROUTED",
    "MAIL_TOPIC",
    "OCR_COMPLETED",
    "OCR_FAILED",
    "OCR_REQUESTED",
    "SOURCE",
    "TOPICS",
    "Confidentiality",
    "DeletionReason",
    "DisposalOutcome",
    "DocumentDeletedV1",
    "DocumentOcrCompletedV1",
    "DocumentOcrFailedV1",
    "DocumentOcrRequestedV1",
    "DocumentVersionAddedV1",
    "FileClosedV1",
    "FileCreatedV1",
    "FileDisposedV1",
    "FileHandedOverV1",
    "FilingFiledV1",
    "InvoiceReceivedV1",
    "InvoiceStatus",
    "InvoiceStatusChangedV1",
    "MailFiledV1",
    "MailReceivedV1",
    "MailRoutedV1",
    "Reason",
    "Source",
    "Syntax",
    "Target",
    "consumed_topics",
    "declared_topics",
    "document_event",
    "file_event",
    "filing_event",
    "invoice_event",
    "mail_event",
]

SOURCE = "/kommune/documents"

FILE_TOPIC = "documents.file.v1"
DOCUMENT_TOPIC = "documents.document.v1"
FILING_TOPIC = "documents.filing.v1"
INVOICE_TOPIC = "documents.invoice.v1"
MAIL_TOPIC = "documents.mail.v1"
EGOV_APPLICATION_TOPIC = "egov.application.v1"
"""Consumed, owned by egov: applications submitted in the citizen portal."""

FILE_CREATED = "de.kommune.documents.file.created.v1"
FILE_CLOSED = "de.kommune.documents.file.closed.v1"
FILE_HANDED_OVER = "de.kommune.documents.file.handed_over.v1"
FILE_DISPOSED = "de.kommune.documents.file.disposed.v1"
DOCUMENT_VERSION_ADDED = "de.kommune.documents.document.version_added.v1"
DOCUMENT_DELETED = "de.kommune.documents.document.deleted.v1"
OCR_REQUESTED = "de.kommune.documents.document.ocr_requested.v1"
OCR_COMPLETED = "de.kommune.documents.document.ocr_completed.v1"
OCR_FAILED = "de.kommune.documents.document.ocr_failed.v1"
MAIL_RECEIVED = "de.kommune.documents.mail.received.v1"
MAIL_ROUTED = "de.kommune.documents.mail.routed.v1"
MAIL_FILED = "de.kommune.documents.mail.filed.v1"
FILING_FILED = "de.kommune.documents.filing.filed.v1"
INVOICE_RECEIVED = "de.kommune.documents.invoice.received.v1"
INVOICE_STATUS_CHANGED = "de.kommune.documents.invoice.status_changed.v1"
EGOV_APPLICATION_SUBMITTED = "de.kommune.egov.application.submitted.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(name=FILE_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=DOCUMENT_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=FILING_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=INVOICE_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=MAIL_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
)
"""Declared and created by this service."""
declare_outbox_topics(SOURCE, TOPICS)  # its outbox refuses any other topic


def consumed_topics(egov_application_topic: str = EGOV_APPLICATION_TOPIC) -> tuple[TopicSpec, ...]:
    """egov's topic, declared here too so the filing consumer can subscribe before egov ran
    (creation is idempotent; egov declares it the same way)."""
    return (TopicSpec(name=egov_application_topic, partitions=3, retention_ms=30 * DAY_MS),)


def declared_topics(egov_application_topic: str = EGOV_APPLICATION_TOPIC) -> tuple[TopicSpec, ...]:
    """Every topic the service ensures at start (the app and ``k8s/tools/render_topics.py``)."""
    return (*TOPICS, *consumed_topics(egov_application_topic))


file_event = AggregateEvents(FILE_TOPIC, "case_file")
document_event = AggregateEvents(DOCUMENT_TOPIC, "document")
filing_event = AggregateEvents(FILING_TOPIC, "filing")
invoice_event = AggregateEvents(INVOICE_TOPIC, "invoice")
mail_event = AggregateEvents(MAIL_TOPIC, "mail_item")
