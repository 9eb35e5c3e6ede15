"""Retention request/response models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from kommune.schemas import InputModel, OutputModel, Text

HoldReason = Annotated[str, Text(3, 500)]


class LegalHoldSet(InputModel):
    reason: HoldReason


class DueFileOut(OutputModel):
    file_id: uuid.UUID
    file_number: str
    plan_code: str
    closed_at: datetime
    due_on: date
    archive_decision: str


class Appraisal(InputModel):
    file_id: uuid.UUID
    decision: Literal["A", "V"]
    """The archive's answer (xdomea 0502): A take over, V destroy."""


class AppraisalSet(InputModel):
    decisions: Annotated[list[Appraisal], Field(min_length=1, max_length=1000)]


class ItemOut(OutputModel):
    file_id: uuid.UUID
    plan_decision: str
    appraisal: str | None
    outcome: str | None


class RunOut(OutputModel):
    id: uuid.UUID
    state: str
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    items: list[ItemOut]
