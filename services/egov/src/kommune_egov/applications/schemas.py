"""REST contracts of applications."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

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


MAX_DATA_DEPTH = 8
MAX_DATA_NODES = 2000


def _check_tree(value: Any, depth: int = 0, seen: list[int] | None = None) -> None:
    """Form data any form can take: finite numbers, bounded nesting and size (a form is small;
    NaN and Infinity, which JSON parsers let through, cannot be stored as JSONB)."""
    seen = seen if seen is not None else [0]
    seen[0] += 1
    if seen[0] > MAX_DATA_NODES:
        raise ValueError(f"The form data has more than {MAX_DATA_NODES} values.")
    if depth > MAX_DATA_DEPTH:
        raise ValueError(f"The form data is nested deeper than {MAX_DATA_DEPTH} levels.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Numbers must be finite.")
    if isinstance(value, dict):
        for item in value.values():
            _check_tree(item, depth + 1, seen)
    elif isinstance(value, list):
        for item in value:
            _check_tree(item, depth + 1, seen)


class ApplicationCreate(InputModel):
    service_code: ServiceCodeText
    data: dict[str, Any] = Field(
        description="The filled-in form: valid against the service's current `form`.",
        json_schema_extra={"maxProperties": 100},
    )
    location: Location | None = Field(
        default=None, description="Where (damage reports: `location` or `address` is required)."
    )
    address: ShortText | None = Field(
        default=None, description="Street and house number, or a description of the place."
    )
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)

    @field_validator("data")
    @classmethod
    def _storable_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_tree(value)
        return value

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


class ApplicationCounts(OutputModel):
    """Applications per department or per status, as far as the caller may see them."""

    group_by: str = Field(description="`department` (codes) or `status`.")
    open_only: bool = Field(
        description="Only open applications (not rejected, completed, withdrawn) were counted."
    )
    total: int
    counts: dict[str, int] = Field(
        description="Department code or status → number of applications; groups without "
        "any are left out."
    )


class ApplicationDetailOut(ApplicationOut):
    history: list[HistoryEntryOut]
    attachments: list[AttachmentSummary]
