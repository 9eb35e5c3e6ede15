"""Pydantic models of the event payloads, generated from schemas/events: do not edit.

Regenerate with `make schemas`. One module per producing service; ``MODELS`` maps each
event type to its payload model (see ``kommune_schemas.model_for``).
"""

from __future__ import annotations

from pydantic import BaseModel

from kommune_schemas.generated import documents
from kommune_schemas.generated import egov
from kommune_schemas.generated import ideas
from kommune_schemas.generated import sensors

MODELS: dict[str, type[BaseModel]] = {
    "de.kommune.documents.document.deleted.v1": documents.DocumentDeletedV1,
    "de.kommune.documents.document.ocr_completed.v1": documents.DocumentOcrCompletedV1,
    "de.kommune.documents.document.ocr_failed.v1": documents.DocumentOcrFailedV1,
    "de.kommune.documents.document.ocr_requested.v1": documents.DocumentOcrRequestedV1,
    "de.kommune.documents.document.version_added.v1": documents.DocumentVersionAddedV1,
    "de.kommune.documents.file.closed.v1": documents.FileClosedV1,
    "de.kommune.documents.file.created.v1": documents.FileCreatedV1,
    "de.kommune.documents.file.disposed.v1": documents.FileDisposedV1,
    "de.kommune.documents.file.handed_over.v1": documents.FileHandedOverV1,
    "de.kommune.documents.filing.filed.v1": documents.FilingFiledV1,
    "de.kommune.documents.invoice.received.v1": documents.InvoiceReceivedV1,
    "de.kommune.documents.invoice.status_changed.v1": documents.InvoiceStatusChangedV1,
    "de.kommune.documents.mail.filed.v1": documents.MailFiledV1,
    "de.kommune.documents.mail.received.v1": documents.MailReceivedV1,
    "de.kommune.documents.mail.routed.v1": documents.MailRoutedV1,
    "de.kommune.egov.application.status_changed.v1": egov.ApplicationStatusChangedV1,
    "de.kommune.egov.application.submitted.v1": egov.ApplicationSubmittedV1,
    "de.kommune.egov.service.published.v1": egov.ServicePublishedV1,
    "de.kommune.ideas.chronicle.commented.v1": ideas.ChronicleCommentedV1,
    "de.kommune.ideas.chronicle.published.v1": ideas.ChroniclePublishedV1,
    "de.kommune.ideas.idea.commented.v1": ideas.IdeaCommentedV1,
    "de.kommune.ideas.idea.created.v1": ideas.IdeaCreatedV1,
    "de.kommune.ideas.idea.endorsed.v1": ideas.IdeaEndorsedV1,
    "de.kommune.ideas.idea.endorsement_withdrawn.v1": ideas.IdeaEndorsementWithdrawnV1,
    "de.kommune.ideas.idea.status_changed.v1": ideas.IdeaStatusChangedV1,
    "de.kommune.ideas.idea.updated.v1": ideas.IdeaUpdatedV1,
    "de.kommune.ideas.meeting.outcome_recorded.v1": ideas.MeetingOutcomeRecordedV1,
    "de.kommune.ideas.meeting.scheduled.v1": ideas.MeetingScheduledV1,
    "de.kommune.sensors.alert.raised.v1": sensors.AlertRaisedV1,
    "de.kommune.sensors.alert.resolved.v1": sensors.AlertResolvedV1,
    "de.kommune.sensors.observation.recorded.v1": sensors.ObservationsRecordedV1,
}

__all__ = ["MODELS", "documents", "egov", "ideas", "sensors"]
