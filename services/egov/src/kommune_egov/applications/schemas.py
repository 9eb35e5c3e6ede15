"""REST contracts of applications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from kommune.schemas import InputModel, Note, OutputModel, ShortText
from kommune_egov.applications.workflow import ApplicationStatus

ServiceCodeText = Annotated[str, Field(min_length=2, max_length=60, pattern=r"^[a-z0-9_]+$")]
AttachmentCode = Annotated[str, Field(min_length=2, max_length=60, pattern=r"^[a-z0-9_]+$")]


class Location(InputModel):
    lat: float = Field(ge=-90, le=90, description="WGS 84 latitude.")
    lon: float = Field(ge=-180, le=180, description="WGS 84 longitude.")


class AttachmentRef(InputModel):
    id: uuid.UUID = Field(description="An attachment uploaded before (POST /api/v1/attachments).")
    code: AttachmentCode = Field(
        description="Which of the service's `required_attachments` it is (e.g. `photo`)."
    )


class ApplicationCreate(InputModel):
    service_code: ServiceCodeText
    data: dict[str, Any] = Field(
        description="The filled-in form: valid against the service's current `form`.",
        json_schema_extra={"maxProperties": 100},
    )
    location: Location | None = Field(
        default=None, description="Where (damage reports: `location` or `address` is required)."
    )
    address: ShortText | None = Field(default=None, max_length=300)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _attachments_once(self) -> ApplicationCreate:
        ids = [a.id for a in self.attachments]
        if len(set(ids)) != len(ids):
            raise ValueError("An attachment can be attached only once.")
        return self


class TransitionIn(InputModel):
    status: ApplicationStatus
    note: Note | None = Field(
        default=None,
        description=(
            "The question (needs_info), the answer (info_provided), the reason (rejected); "
            "optional otherwise. The applicant reads it in the mailbox."
        ),
    )
    attachment_id: uuid.UUID | None = Field(
        default=None,
        description="A document for the applicant (e.g. the permit as PDF), uploaded before.",
    )


class HistoryEntryOut(OutputModel):
    position: int
    from_status: ApplicationStatus | None
    to_status: ApplicationStatus
    actor: str = Field(description="`applicant`, `caseworker` or `system`.")
    note: str | None
    at: datetime


class AttachmentSummary(OutputModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int


class LocationOut(OutputModel):
    lat: float
    lon: float


class ApplicationOut(OutputModel):
    id: uuid.UUID
    reference: str = Field(description="The case number to quote.")
    service_code: str
    service_name: str
    kind: str
    department: str
    form_version: int
    status: ApplicationStatus
    origin: str
    data: dict[str, Any]
    location: LocationOut | None
    address: str | None
    file_number: str | None = Field(description="The E-Akte file number once it is filed.")
    submitted_at: datetime
    updated_at: datetime
    allowed_transitions: list[ApplicationStatus] = Field(
        description="The statuses the caller may move it to now."
    )


class ApplicationDetailOut(ApplicationOut):
    history: list[HistoryEntryOut]
    attachments: list[AttachmentSummary]
