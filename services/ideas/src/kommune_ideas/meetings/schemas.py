"""Innovation circle request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from kommune.schemas import (
    PatchModel,
    YearWindow,
    check_reason_only_when,
    one_of_required,
    reason_only_when,
)
from kommune_ideas.ideas.workflow import IdeaStatus
from kommune_ideas.meetings.models import AgendaItemKind
from kommune_ideas.schema_types import (
    InputModel,
    Note,
    OutputModel,
    ShortText,
    Text,
    Title,
)

UserId = Annotated[str, Text(1, 255)]
Minutes = Annotated[str, Text(1, 20_000, multi_line=True)]
MAX_PARTICIPANTS = 100
MeetingTime = Annotated[
    AwareDatetime, YearWindow(years_back=1, years_ahead=5, what="A circle's date")
]
"""A circle is scheduled (or recorded) from last year to five years ahead."""


class Participant(InputModel):
    user_id: UserId
    name: ShortText | None = None


class MeetingCreate(InputModel):
    title: Title
    scheduled_at: MeetingTime
    location: ShortText | None = None
    participants: list[Participant] = Field(default_factory=list, max_length=MAX_PARTICIPANTS)
    propose_agenda: bool = Field(
        default=True,
        description="Put every idea posted since the previous circle and every idea up for "
        "decision on the agenda.",
    )


class MeetingUpdate(PatchModel):
    nullable_fields = frozenset({"location", "minutes"})

    title: Title | None = None
    scheduled_at: MeetingTime | None = None
    location: ShortText | None = None
    participants: list[Participant] | None = Field(default=None, max_length=MAX_PARTICIPANTS)
    minutes: Minutes | None = None


class AgendaItemCreate(InputModel):
    model_config = ConfigDict(json_schema_extra=one_of_required("idea_id", "title"))

    idea_id: uuid.UUID | None = None
    title: ShortText | None = Field(default=None, description="Required for a topic without idea.")
    position: int | None = Field(default=None, ge=1, le=1000, strict=True)

    @model_validator(mode="after")
    def _idea_or_title(self) -> AgendaItemCreate:
        if self.idea_id is None and self.title is None:
            raise ValueError("Give an idea_id or a title.")
        return self


class AgendaItemUpdate(PatchModel):
    title: ShortText | None = None
    position: int | None = Field(default=None, ge=1, le=1000, strict=True)


class OutcomeCreate(InputModel):
    model_config = ConfigDict(json_schema_extra=reason_only_when("status", IdeaStatus.REJECTED))

    note: Note = Field(description="What the circle concluded; becomes the idea's answer.")
    status: IdeaStatus | None = Field(
        default=None, description="Move the idea to this status (the workflow's rules apply)."
    )
    reason: Note | None = Field(default=None, description="Required when rejecting.")

    @model_validator(mode="after")
    def _reason_only_for_rejected(self) -> OutcomeCreate:
        check_reason_only_when(self.status, IdeaStatus.REJECTED, self.reason, field="status")
        return self


class ParticipantOut(OutputModel):
    user_id: str
    name: str | None


class OutcomeOut(OutputModel):
    note: str
    new_status: IdeaStatus | None
    reason: str | None
    recorded_by: str
    recorded_at: datetime


class AgendaItemOut(OutputModel):
    id: uuid.UUID
    position: int
    kind: AgendaItemKind
    idea_id: uuid.UUID | None
    title: str
    outcome: OutcomeOut | None


class MeetingSummary(OutputModel):
    id: uuid.UUID
    title: str
    scheduled_at: datetime
    location: str | None
    participants: list[ParticipantOut]
    created_by: str
    created_at: datetime
    updated_at: datetime


class MeetingOut(MeetingSummary):
    minutes: str | None
    agenda: list[AgendaItemOut]


class MeetingPeriod(StrEnum):
    UPCOMING = "upcoming"
    """From now on, soonest first."""
    PAST = "past"
    """Before now, latest first."""
