"""Idea request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, computed_field, field_validator, model_validator

from kommune.schemas import PatchModel, Tag, Text, check_reason_only_when, reason_only_when
from kommune_ideas.departments.schemas import DepartmentOut
from kommune_ideas.ideas.workflow import GERMAN_LABELS, IdeaStatus
from kommune_ideas.schema_types import (
    InputModel,
    LongText,
    Note,
    OutputModel,
    PersonOut,
    Title,
    VeryLongText,
)

MAX_TAGS = 10

SearchQuery = Annotated[str, Text(2, 200)]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


class IdeaCreate(InputModel):
    title: Title
    problem_statement: LongText = Field(description="Problemstellung")
    proposed_solution: LongText = Field(description="Lösungsansatz")
    added_value: LongText = Field(description="Mehrwert")
    description: VeryLongText = Field(description="Beschreibung")
    department_id: uuid.UUID
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)

    _tags = field_validator("tags")(_unique_tags)


class IdeaUpdate(PatchModel):
    """Only the fields given change; ``null`` is not a value of any of them."""

    title: Title | None = None
    problem_statement: LongText | None = None
    proposed_solution: LongText | None = None
    added_value: LongText | None = None
    description: VeryLongText | None = None
    department_id: uuid.UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _unique_tags(tags)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class StatusChange(InputModel):
    model_config = ConfigDict(json_schema_extra=reason_only_when("status", IdeaStatus.REJECTED))

    status: IdeaStatus
    note: Note = Field(description="The official answer, shown with the idea.")
    reason: Note | None = Field(default=None, description="Required for, and only for, rejected.")

    @model_validator(mode="after")
    def _reason_only_for_rejected(self) -> StatusChange:
        check_reason_only_when(self.status, IdeaStatus.REJECTED, self.reason, field="status")
        return self


class IdeaSort(StrEnum):
    NEWEST = "newest"
    MOST_ENDORSED = "most_endorsed"
    RECENTLY_ACTIVE = "recently_active"
    RELEVANCE = "relevance"
    """Only with ``q``; the default when searching."""


class IdeaOut(OutputModel):
    id: uuid.UUID
    title: str
    problem_statement: str
    proposed_solution: str
    added_value: str
    description: str
    tags: list[str]
    status: IdeaStatus
    answer: str | None = Field(description="The note of the latest status change.")

    @computed_field(description="The status as staff read it (the city's words, German).")  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return GERMAN_LABELS[self.status]

    rejection_reason: str | None
    author: PersonOut
    department: DepartmentOut
    endorsement_count: int
    comment_count: int | None = Field(
        description="Comments in the change agents' forum; null if you may not read it."
    )
    decision_comment_count: int | None = Field(
        description="Comments in the leaders' forum; null if you may not read it."
    )
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    last_activity_at: datetime = Field(
        description="Latest activity you can see (forum comments count for their readers only)."
    )


class IdeaDetail(IdeaOut):
    endorsed_by_me: bool
    following: bool
    editable: bool
    allowed_transitions: list[IdeaStatus] = Field(
        description="The statuses you may move this idea to."
    )


class HistoryEntryOut(OutputModel):
    id: uuid.UUID
    kind: str
    from_status: IdeaStatus | None
    to_status: IdeaStatus | None
    note: str | None
    reason: str | None
    changed_fields: list[str] | None
    actor: PersonOut
    meeting_id: uuid.UUID | None
    occurred_at: datetime


class IdeaCounts(OutputModel):
    """Counts under the same filters and visibility as the list (for dashboards)."""

    total: int
    by_status: dict[IdeaStatus, int]
