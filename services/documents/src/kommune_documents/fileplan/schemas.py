"""File plan request/response models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from kommune.schemas import InputModel, LongText, OutputModel, PatchModel, Title
from kommune_documents.fileplan.models import ArchiveDecision

PLAN_CODE_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,4}){0,7}$"
PlanCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=PLAN_CODE_PATTERN,
        description="Dotted numeric code, e.g. `0.21.1`; a child's code is its parent's plus "
        "one more segment.",
        examples=["0.21.1"],
    ),
]
RetentionYears = Annotated[
    int | None,
    Field(ge=0, le=200, description="Years after closing; `null` keeps files without limit."),
]


class PlanUnitCreate(InputModel):
    parent_id: uuid.UUID | None = None
    code: PlanCode
    title: Title
    description: LongText | None = None
    valid_from: date
    valid_until: date | None = None
    retention_years: RetentionYears
    archive_decision: ArchiveDecision

    @model_validator(mode="after")
    def _validity(self) -> PlanUnitCreate:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from.")
        return self


class PlanUnitUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"description", "valid_until", "retention_years"}
    )

    title: Title | None = None
    description: LongText | None = None
    valid_until: date | None = None
    retention_years: RetentionYears = None
    archive_decision: ArchiveDecision | None = None


class PlanUnitOut(OutputModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    code: str
    title: str
    description: str | None
    valid_from: date
    valid_until: date | None
    retention_years: int | None
    archive_decision: ArchiveDecision
    created_at: datetime
    updated_at: datetime
