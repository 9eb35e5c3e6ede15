# Generated from schemas/events/documents/ by schemas/tools/generate.py: do not edit.
# Regenerate with `make schemas`.

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class DocumentsEventType(StrEnum):
    """
    The event types the documents service publishes.
    """

    DE_KOMMUNE_DOCUMENTS_DOCUMENT_DELETED_V1 = "de.kommune.documents.document.deleted.v1"
    DE_KOMMUNE_DOCUMENTS_DOCUMENT_OCR_COMPLETED_V1 = "de.kommune.documents.document.ocr_completed.v1"
    DE_KOMMUNE_DOCUMENTS_DOCUMENT_OCR_FAILED_V1 = "de.kommune.documents.document.ocr_failed.v1"
    DE_KOMMUNE_DOCUMENTS_DOCUMENT_OCR_REQUESTED_V1 = "de.kommune.documents.document.ocr_requested.v1"
    DE_KOMMUNE_DOCUMENTS_DOCUMENT_VERSION_ADDED_V1 = "de.kommune.documents.document.version_added.v1"
    DE_KOMMUNE_DOCUMENTS_FILE_CLOSED_V1 = "de.kommune.documents.file.closed.v1"
    DE_KOMMUNE_DOCUMENTS_FILE_CREATED_V1 = "de.kommune.documents.file.created.v1"
    DE_KOMMUNE_DOCUMENTS_FILE_DISPOSED_V1 = "de.kommune.documents.file.disposed.v1"
    DE_KOMMUNE_DOCUMENTS_FILE_HANDED_OVER_V1 = "de.kommune.documents.file.handed_over.v1"
    DE_KOMMUNE_DOCUMENTS_FILING_FILED_V1 = "de.kommune.documents.filing.filed.v1"
    DE_KOMMUNE_DOCUMENTS_INVOICE_RECEIVED_V1 = "de.kommune.documents.invoice.received.v1"
    DE_KOMMUNE_DOCUMENTS_INVOICE_STATUS_CHANGED_V1 = "de.kommune.documents.invoice.status_changed.v1"
    DE_KOMMUNE_DOCUMENTS_MAIL_FILED_V1 = "de.kommune.documents.mail.filed.v1"
    DE_KOMMUNE_DOCUMENTS_MAIL_RECEIVED_V1 = "de.kommune.documents.mail.received.v1"
    DE_KOMMUNE_DOCUMENTS_MAIL_ROUTED_V1 = "de.kommune.documents.mail.routed.v1"


class Target(StrEnum):
    """
    What the scan belongs to: a document version in a case file, or an item of incoming post in the mailroom.
    """

    DOCUMENT = "document"
    MAIL_ITEM = "mail_item"


class DocumentOcrCompletedV1(BaseModel):
    """
    The OCR of a scan finished: its text is stored and searchable (the text itself is never in the event).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    target: Annotated[
        Target,
        Field(
            description="What the scan belongs to: a document version in a case file, or an item of incoming post in the mailroom."
        ),
    ]
    target_id: Annotated[UUID, Field(description="Id of the document or mail item.")]
    version: Annotated[
        int,
        Field(
            description="The document version whose content is read (always 1 for a mail item).",
            ge=1,
        ),
    ]
    sha256: Annotated[
        str,
        Field(
            description="SHA-256 of the content that was (or is to be) read (its key in the content store).",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    pages: Annotated[
        int, Field(description="Pages (or image frames) read by OCR.", ge=0)
    ]
    characters: Annotated[int, Field(description="Length of the stored text.", ge=0)]
    completed_at: Annotated[
        AwareDatetime, Field(description="When the text was stored.")
    ]


class Reason(StrEnum):
    """
    Why: content the tools cannot read, an image over the pixel limit, Tesseract over its time limit, content gone from the store.
    """

    UNREADABLE = "unreadable"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    MISSING_CONTENT = "missing_content"


class DocumentOcrFailedV1(BaseModel):
    """
    The OCR of a scan failed for good (unreadable content, too large, timed out); it is not retried. The content stays stored, unindexed.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    target: Annotated[
        Target,
        Field(
            description="What the scan belongs to: a document version in a case file, or an item of incoming post in the mailroom."
        ),
    ]
    target_id: Annotated[UUID, Field(description="Id of the document or mail item.")]
    version: Annotated[
        int,
        Field(
            description="The document version whose content is read (always 1 for a mail item).",
            ge=1,
        ),
    ]
    sha256: Annotated[
        str,
        Field(
            description="SHA-256 of the content that was (or is to be) read (its key in the content store).",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    reason: Annotated[
        Reason,
        Field(
            description="Why: content the tools cannot read, an image over the pixel limit, Tesseract over its time limit, content gone from the store."
        ),
    ]
    failed_at: Annotated[AwareDatetime, Field(description="When it failed.")]


class DocumentOcrRequestedV1(BaseModel):
    """
    Stored content has no text layer (an image, or a PDF with image-only pages): the service's OCR consumer reads it with Tesseract in the background. Carries ids and the hash, never text.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    target: Annotated[
        Target,
        Field(
            description="What the scan belongs to: a document version in a case file, or an item of incoming post in the mailroom."
        ),
    ]
    target_id: Annotated[UUID, Field(description="Id of the document or mail item.")]
    version: Annotated[
        int,
        Field(
            description="The document version whose content is read (always 1 for a mail item).",
            ge=1,
        ),
    ]
    sha256: Annotated[
        str,
        Field(
            description="SHA-256 of the content that was (or is to be) read (its key in the content store).",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    media_type: Annotated[
        str,
        Field(
            description="Media type sniffed from the content.",
            max_length=100,
            min_length=1,
        ),
    ]
    requested_at: Annotated[
        AwareDatetime, Field(description="When the content was stored.")
    ]


class DocumentVersionAddedV1(BaseModel):
    """
    A document got a new version (version 1: the document was created). Carries ids and the content hash, never the title or the text.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    document_id: Annotated[UUID, Field(description="Id of the document.")]
    file_id: Annotated[UUID, Field(description="The case file it belongs to.")]
    process_id: Annotated[
        UUID | None, Field(description="The process (Vorgang) it belongs to, if any.")
    ]
    version: Annotated[
        int,
        Field(description="Number of the new version (1 for a new document).", ge=1),
    ]
    sha256: Annotated[
        str,
        Field(
            description="SHA-256 of the version's content (its key in the content store).",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    size: Annotated[int, Field(description="Size of the content in bytes.", ge=0)]
    media_type: Annotated[
        str,
        Field(
            description="Media type sniffed from the content.",
            max_length=100,
            min_length=1,
        ),
    ]
    added_at: Annotated[
        AwareDatetime, Field(description="When the version was stored.")
    ]


class FileHandedOverV1(BaseModel):
    """
    The archive confirmed that it imported a file handed over in a disposal run (xdomea 0503 package, confirmed by 0506); the file now lives in the archive. Followed by file.disposed.v1 with outcome archived.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    file_id: Annotated[UUID, Field(description="Id of the case file.")]
    file_number: Annotated[
        str,
        Field(
            description="The human file number (Aktenzeichen), e.g. 0.21.1/2026/0007.",
            max_length=80,
            min_length=1,
        ),
    ]
    run_id: Annotated[
        UUID, Field(description="The disposal run (Aussonderung) this happened in.")
    ]
    handed_over_at: Annotated[
        AwareDatetime,
        Field(description="When the archive's confirmation was recorded."),
    ]


class Source(StrEnum):
    """
    What was filed: an application from the citizen portal.
    """

    EGOV_APPLICATION = "egov.application"


class FilingFiledV1(BaseModel):
    """
    Something from another service was filed in the E-Akte; egov shows the file number on the application.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    source: Annotated[
        Source,
        Field(description="What was filed: an application from the citizen portal."),
    ]
    source_id: Annotated[
        UUID, Field(description="Id of what was filed (the application id).")
    ]
    file_id: Annotated[UUID, Field(description="The case file it was filed in.")]
    file_number: Annotated[
        str,
        Field(
            description="The human file number (Aktenzeichen): plan code, year and sequence, e.g. 0.21.1/2026/0007.",
            max_length=80,
            min_length=1,
        ),
    ]
    process_id: Annotated[
        UUID, Field(description="The process (Vorgang) created for it.")
    ]
    filed_at: Annotated[AwareDatetime, Field(description="When it was filed.")]


class Syntax(StrEnum):
    """
    UBL 2.1 or UN/CEFACT CII.
    """

    UBL = "ubl"
    CII = "cii"


class InvoiceReceivedV1(BaseModel):
    """
    A valid e-invoice (XRechnung) was received and filed; its approval workflow starts. Amounts and parties stay in the service.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    invoice_id: Annotated[UUID, Field(description="Id of the invoice.")]
    file_id: Annotated[UUID, Field(description="The invoice file it is filed in.")]
    document_id: Annotated[
        UUID, Field(description="The document holding the XML as received.")
    ]
    invoice_number: Annotated[
        str,
        Field(
            description="The seller's invoice number (BT-1).",
            max_length=200,
            min_length=1,
        ),
    ]
    syntax: Annotated[Syntax, Field(description="UBL 2.1 or UN/CEFACT CII.")]
    possible_duplicate_of: Annotated[
        UUID | None,
        Field(
            description="An earlier invoice of the same seller with the same number and other content."
        ),
    ]
    received_at: Annotated[AwareDatetime, Field(description="When it was received.")]


class MailFiledV1(BaseModel):
    """
    A mail item was filed from an inbox: it is now a document in a case file (and process).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    item_id: Annotated[UUID, Field(description="Id of the mail item.")]
    document_id: Annotated[UUID, Field(description="The document it became.")]
    file_id: Annotated[UUID, Field(description="The case file.")]
    process_id: Annotated[UUID | None, Field(description="The process, if any.")]
    filed_at: Annotated[AwareDatetime, Field(description="When it was filed.")]


class MailReceivedV1(BaseModel):
    """
    The mailroom took in a piece of (scanned) incoming post. Carries ids and the hash, never the sender or text.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    item_id: Annotated[UUID, Field(description="Id of the mail item.")]
    sha256: Annotated[
        str,
        Field(
            description="SHA-256 of the content that was (or is to be) read (its key in the content store).",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    media_type: Annotated[
        str,
        Field(
            description="Media type sniffed from the content.",
            max_length=100,
            min_length=1,
        ),
    ]
    size: Annotated[int, Field(description="Size of the content in bytes.", ge=0)]
    received_at: Annotated[AwareDatetime, Field(description="When it was received.")]


class MailRoutedV1(BaseModel):
    """
    A mail item was put into a department's inbox by a routing rule, or into the central inbox (department null) when no rule matched.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    item_id: Annotated[UUID, Field(description="Id of the mail item.")]
    department: Annotated[
        str | None,
        Field(
            description="The department whose inbox it is in; null: the central inbox.",
            max_length=40,
            min_length=1,
        ),
    ]
    rule_id: Annotated[
        UUID | None, Field(description="The routing rule that matched, if any.")
    ]
    routed_at: Annotated[AwareDatetime, Field(description="When it was routed.")]


class DeletionReason(StrEnum):
    """
    disposal: the retention period had passed and the archive confirmed the run.
    """

    DISPOSAL = "disposal"


class Confidentiality(StrEnum):
    """
    Who may read the file: normal (owning department, named readers, records management) or confidential (named people and records management only).
    """

    NORMAL = "normal"
    CONFIDENTIAL = "confidential"


class DisposalOutcome(StrEnum):
    """
    What became of a disposed file.
    """

    ARCHIVED = "archived"
    DESTROYED = "destroyed"


class InvoiceStatus(StrEnum):
    """
    Step of the approval workflow: received, factually checked (sachlich richtig), arithmetically checked (rechnerisch richtig), released for payment, exported to the treasury.
    """

    RECEIVED = "received"
    FACTUALLY_CHECKED = "factually_checked"
    ARITHMETICALLY_CHECKED = "arithmetically_checked"
    RELEASED = "released"
    EXPORTED = "exported"


class DocumentDeletedV1(BaseModel):
    """
    A document and all its versions were deleted (disposal of its case file); content no other version uses was removed from the store. The case file remains as a tombstone.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    document_id: Annotated[UUID, Field(description="Id of the deleted document.")]
    file_id: Annotated[UUID, Field(description="Id of the case file.")]
    run_id: Annotated[
        UUID, Field(description="The disposal run (Aussonderung) this happened in.")
    ]
    reason: Annotated[DeletionReason, Field(description="Why it was deleted.")]
    versions: Annotated[
        int, Field(description="How many versions were deleted with it.", ge=0)
    ]
    deleted_at: Annotated[AwareDatetime, Field(description="When it was deleted.")]


class FileClosedV1(BaseModel):
    """
    A case file was closed; its retention period starts with the closing date.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    file_id: Annotated[UUID, Field(description="Id of the case file.")]
    file_number: Annotated[
        str,
        Field(
            description="The human file number (Aktenzeichen): plan code, year and sequence, e.g. 0.21.1/2026/0007.",
            max_length=80,
            min_length=1,
        ),
    ]
    plan_unit_id: Annotated[
        UUID, Field(description="The plan unit (Aktenplaneinheit) the file belongs to.")
    ]
    plan_code: Annotated[
        str,
        Field(
            description="Code of that plan unit, e.g. 0.21.1.",
            max_length=40,
            min_length=1,
        ),
    ]
    department: Annotated[
        str,
        Field(
            description="Code of the owning department.", max_length=40, min_length=1
        ),
    ]
    confidentiality: Annotated[
        Confidentiality, Field(description="Confidentiality level of the file.")
    ]
    closed_at: Annotated[
        AwareDatetime,
        Field(description="When the file was closed (start of retention)."),
    ]


class FileCreatedV1(BaseModel):
    """
    A case file (Akte) was opened. Carries ids and codes only, never the title: files are visible to their department, named readers and records management.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    file_id: Annotated[UUID, Field(description="Id of the case file.")]
    file_number: Annotated[
        str,
        Field(
            description="The human file number (Aktenzeichen): plan code, year and sequence, e.g. 0.21.1/2026/0007.",
            max_length=80,
            min_length=1,
        ),
    ]
    plan_unit_id: Annotated[
        UUID, Field(description="The plan unit (Aktenplaneinheit) the file belongs to.")
    ]
    plan_code: Annotated[
        str,
        Field(
            description="Code of that plan unit, e.g. 0.21.1.",
            max_length=40,
            min_length=1,
        ),
    ]
    department: Annotated[
        str,
        Field(
            description="Code of the owning department.", max_length=40, min_length=1
        ),
    ]
    confidentiality: Annotated[
        Confidentiality, Field(description="Confidentiality level of the file.")
    ]
    opened_at: Annotated[AwareDatetime, Field(description="When the file was opened.")]


class FileDisposedV1(BaseModel):
    """
    The archive confirmed a disposal run (xdomea 0506): the file's documents and their content were deleted; the case file stays as a tombstone with its processes and audit trail.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    file_id: Annotated[UUID, Field(description="Id of the case file.")]
    file_number: Annotated[
        str,
        Field(
            description="The human file number (Aktenzeichen), e.g. 0.21.1/2026/0007.",
            max_length=80,
            min_length=1,
        ),
    ]
    run_id: Annotated[
        UUID, Field(description="The disposal run (Aussonderung) this happened in.")
    ]
    outcome: Annotated[
        DisposalOutcome,
        Field(
            description="archived: handed over to the archive, then deleted here; destroyed: deleted without hand-over."
        ),
    ]
    documents: Annotated[
        int,
        Field(
            description="How many documents (with all their versions) were deleted.",
            ge=0,
        ),
    ]
    disposed_at: Annotated[
        AwareDatetime, Field(description="When the content was deleted.")
    ]


class InvoiceStatusChangedV1(BaseModel):
    """
    An e-invoice took a step of its approval workflow.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    invoice_id: Annotated[UUID, Field(description="Id of the invoice.")]
    file_id: Annotated[UUID, Field(description="The invoice file it is filed in.")]
    document_id: Annotated[
        UUID, Field(description="The document holding the XML as received.")
    ]
    invoice_number: Annotated[
        str,
        Field(
            description="The seller's invoice number (BT-1).",
            max_length=200,
            min_length=1,
        ),
    ]
    from_status: Annotated[InvoiceStatus, Field(description="Status before.")]
    to_status: Annotated[InvoiceStatus, Field(description="Status after.")]
    changed_by: Annotated[
        str,
        Field(
            description="Subject of who took the step.", max_length=255, min_length=1
        ),
    ]
    changed_at: Annotated[AwareDatetime, Field(description="When.")]
