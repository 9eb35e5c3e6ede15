"""Document request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime

from kommune.schemas import InputModel, OutputModel, Title


class DocumentFields(InputModel):
    """The form fields of ``POST /api/v1/documents`` (besides the ``content`` part)."""

    file_id: uuid.UUID
    process_id: uuid.UUID | None = None
    title: Title | None = None
    """Default: the uploaded file's name."""


class VersionFields(InputModel):
    """``POST /api/v1/documents/{id}/versions`` takes no fields besides ``content``."""


class VersionOut(OutputModel):
    version: int
    sha256: str
    filename: str
    media_type: str
    size: int
    created_by: str
    created_at: datetime
    ocr_status: str | None = None
    """A scan's OCR: ``pending``, ``done``, ``failed`` or ``superseded``; null: not a scan."""


class DocumentOut(OutputModel):
    id: uuid.UUID
    file_id: uuid.UUID
    process_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    """For an e-mail's attachment: the e-mail."""
    title: str
    current_version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class DocumentDetail(DocumentOut):
    versions: list[VersionOut]
    attachments: list[DocumentOut] = []
    """For an e-mail: the documents made of its attachments."""
    deduplicated: bool | None = None
    """On upload: whether the content was stored already (and not written again)."""


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file_id", "content"],
                    "properties": {
                        "file_id": {"type": "string", "format": "uuid"},
                        "process_id": {"type": "string", "format": "uuid"},
                        "title": {"type": "string", "minLength": 3, "maxLength": 200},
                        "content": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}
VERSION_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {"content": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
