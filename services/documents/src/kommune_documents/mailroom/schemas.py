"""Mailroom request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from kommune.schemas import InputModel, OutputModel, ShortText, Title

Department = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")]


class MailFields(InputModel):
    """The form fields of ``POST /api/v1/mailroom`` (besides the ``content`` part)."""

    sender: ShortText | None = None
    """As written on the envelope or letterhead; routing rules may match it."""
    subject: Title | None = None
    """Default: the scanned file's name."""


class RuleCreate(InputModel):
    department: Department
    sender: ShortText | None = None
    keyword: Annotated[str, Field(min_length=3, max_length=100)] | None = None
    priority: Annotated[int, Field(ge=0, le=10_000)] = 100

    @model_validator(mode="after")
    def _sender_or_keyword(self) -> RuleCreate:
        if self.sender is None and self.keyword is None:
            raise ValueError("a rule needs a sender or a keyword (or both)")
        return self


class RuleOut(OutputModel):
    id: uuid.UUID
    department: str
    sender: str | None
    keyword: str | None
    priority: int
    created_by: str
    created_at: datetime


class FileMail(InputModel):
    """``POST /api/v1/mailroom/items/{id}/file``: where the item goes."""

    file_id: uuid.UUID
    process_id: uuid.UUID | None = None
    title: Title | None = None
    """Default: the item's subject."""


class Reroute(InputModel):
    """``POST /api/v1/mailroom/items/{id}/route``: the inbox it belongs in."""

    department: Department


class MailItemOut(OutputModel):
    id: uuid.UUID
    status: str
    """``awaiting_ocr`` (being read), ``in_inbox`` or ``filed``."""
    department: str | None
    """The inbox it is in; null: the central inbox (or not routed yet)."""
    sender: str | None
    subject: str
    filename: str
    media_type: str
    size: int
    sha256: str
    ocr_status: str | None
    received_by: str
    received_at: datetime
    routed_at: datetime | None
    document_id: uuid.UUID | None
    """Once filed: the document it became."""
    filed_at: datetime | None
    excerpt: str = ""
    """The start of its (OCR'd) text, to decide where it belongs."""


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {
                        "sender": {"type": "string", "minLength": 1, "maxLength": 200},
                        "subject": {"type": "string", "minLength": 3, "maxLength": 200},
                        "content": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}
