"""Case file and process request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from kommune.schemas import Code, InputModel, OutputModel, SubjectId, Title
from kommune_documents.access import Confidentiality
from kommune_documents.files.models import Status

FileNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        pattern=r"^[0-9.]{1,40}/[0-9]{4}/[0-9]{4,9}$",
        description="A file number (Aktenzeichen): `<plan code>/<year>/<sequence>`.",
        examples=["0.21.1/2026/0007"],
    ),
]


class FileCreate(InputModel):
    plan_unit_id: uuid.UUID
    title: Title
    department: Code | None = None
    """Owning department; default: the caller's (a caseworker may only name their own)."""
    confidentiality: Confidentiality = Confidentiality.NORMAL
    readers: Annotated[list[SubjectId], Field(max_length=50)] = []
    """People named on the file besides its creator (who is named automatically)."""


class ReaderCreate(InputModel):
    subject: SubjectId


class FileOut(OutputModel):
    id: uuid.UUID
    file_number: str
    plan_unit_id: uuid.UUID
    title: str
    department: str
    confidentiality: Confidentiality
    status: Status
    opened_at: datetime
    closed_at: datetime | None
    created_by: str
    legal_hold: str | None
    """Reason of a legal hold; while set, the file is never disposed of."""
    disposed_at: datetime | None
    """Set once the content was deleted after disposal (the file stays as a tombstone)."""


class FileDetail(FileOut):
    readers: list[str]
    may_write: bool
    """Whether the caller may add processes and documents (named readers only read)."""


class ProcessCreate(InputModel):
    title: Title


class ProcessOut(OutputModel):
    id: uuid.UUID
    file_id: uuid.UUID
    sequence: int
    title: str
    status: Status
    opened_at: datetime
    closed_at: datetime | None
    created_by: str
    source: str | None
    source_id: uuid.UUID | None
    reference: str | None
