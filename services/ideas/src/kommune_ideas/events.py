"""The events of the ideas service: topics, types and payloads (one JSON Schema per type).

Payload models mirror ``schemas/events/ideas/<type>.json``; the tests validate every outbox row
against those files. Everything in a payload is visible to every staff role (the idea store is
open to all staff). Comment events carry ids and the forum, never the text: the forums are
closed to most staff.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from kommune.events.outbox import DomainEvent
from kommune.events.topics import DAY_MS, TopicSpec
from kommune_ideas.access import Forum
from kommune_ideas.ideas.workflow import IdeaStatus

SOURCE = "/kommune/ideas"

IDEA_TOPIC = "ideas.idea.v1"
MEETING_TOPIC = "ideas.meeting.v1"
CHRONICLE_TOPIC = "ideas.chronicle.v1"
EGOV_SERVICE_TOPIC = "egov.service.v1"
"""Consumed, owned by egov: announcements of e-services going live."""

IDEA_CREATED = "de.kommune.ideas.idea.created.v1"
IDEA_UPDATED = "de.kommune.ideas.idea.updated.v1"
IDEA_STATUS_CHANGED = "de.kommune.ideas.idea.status_changed.v1"
IDEA_COMMENTED = "de.kommune.ideas.idea.commented.v1"
IDEA_ENDORSED = "de.kommune.ideas.idea.endorsed.v1"
IDEA_ENDORSEMENT_WITHDRAWN = "de.kommune.ideas.idea.endorsement_withdrawn.v1"
MEETING_SCHEDULED = "de.kommune.ideas.meeting.scheduled.v1"
MEETING_OUTCOME_RECORDED = "de.kommune.ideas.meeting.outcome_recorded.v1"
CHRONICLE_PUBLISHED = "de.kommune.ideas.chronicle.published.v1"
CHRONICLE_COMMENTED = "de.kommune.ideas.chronicle.commented.v1"
EGOV_SERVICE_PUBLISHED = "de.kommune.egov.service.published.v1"

EMITTED_TYPES: tuple[str, ...] = (
    IDEA_CREATED,
    IDEA_UPDATED,
    IDEA_STATUS_CHANGED,
    IDEA_COMMENTED,
    IDEA_ENDORSED,
    IDEA_ENDORSEMENT_WITHDRAWN,
    MEETING_SCHEDULED,
    MEETING_OUTCOME_RECORDED,
    CHRONICLE_PUBLISHED,
    CHRONICLE_COMMENTED,
)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(name=IDEA_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=MEETING_TOPIC, partitions=1, retention_ms=30 * DAY_MS),
    TopicSpec(name=CHRONICLE_TOPIC, partitions=1, retention_ms=30 * DAY_MS),
)
"""Declared and created by this service (with their ``.dlq``)."""


def consumed_topics(egov_service_topic: str = EGOV_SERVICE_TOPIC) -> tuple[TopicSpec, ...]:
    """Topics of other services the chronicle reads, declared here as well so that it can
    subscribe before egov ever started (creation is idempotent; egov's declaration is the same)."""
    return (TopicSpec(name=egov_service_topic, partitions=3, retention_ms=30 * DAY_MS),)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class IdeaCreatedV1(_Payload):
    idea_id: uuid.UUID
    title: Text200
    status: IdeaStatus
    department_id: uuid.UUID
    author_id: str
    author_name: str | None
    tags: list[str]
    created_at: datetime


class IdeaUpdatedV1(_Payload):
    idea_id: uuid.UUID
    title: Text200
    changed_fields: list[str]
    updated_by: str
    updated_at: datetime


class IdeaStatusChangedV1(_Payload):
    idea_id: uuid.UUID
    title: Text200
    from_status: IdeaStatus
    to_status: IdeaStatus
    note: str
    reason: str | None
    decision: bool
    changed_by: str
    changed_by_name: str | None
    meeting_id: uuid.UUID | None
    changed_at: datetime


class IdeaCommentedV1(_Payload):
    idea_id: uuid.UUID
    comment_id: uuid.UUID
    parent_id: uuid.UUID | None
    forum: Forum
    author_id: str
    created_at: datetime


class IdeaEndorsedV1(_Payload):
    idea_id: uuid.UUID
    endorsement_count: int
    endorsed_at: datetime


class IdeaEndorsementWithdrawnV1(_Payload):
    idea_id: uuid.UUID
    endorsement_count: int
    withdrawn_at: datetime


class AgendaEntryV1(_Payload):
    agenda_item_id: uuid.UUID
    idea_id: uuid.UUID | None
    kind: str
    title: Text200


class MeetingScheduledV1(_Payload):
    meeting_id: uuid.UUID
    title: Text200
    scheduled_at: datetime
    location: str | None
    participant_count: int
    agenda: list[AgendaEntryV1]
    scheduled_by: str


class MeetingOutcomeRecordedV1(_Payload):
    meeting_id: uuid.UUID
    agenda_item_id: uuid.UUID
    idea_id: uuid.UUID | None
    note: str
    new_status: IdeaStatus | None
    recorded_by: str
    recorded_at: datetime


class ChroniclePublishedV1(_Payload):
    entry_id: uuid.UUID
    kind: str
    title: Text200
    idea_id: uuid.UUID | None
    source_event_id: str | None
    published_at: datetime


class ChronicleCommentedV1(_Payload):
    entry_id: uuid.UUID
    comment_id: uuid.UUID
    parent_id: uuid.UUID | None
    author_id: str
    created_at: datetime


def idea_event(event_type: str, idea_id: uuid.UUID, payload: _Payload) -> DomainEvent:
    return DomainEvent(
        topic=IDEA_TOPIC,
        type=event_type,
        aggregate_type="idea",
        aggregate_id=str(idea_id),
        data=payload.model_dump(mode="json"),
    )


def meeting_event(event_type: str, meeting_id: uuid.UUID, payload: _Payload) -> DomainEvent:
    return DomainEvent(
        topic=MEETING_TOPIC,
        type=event_type,
        aggregate_type="meeting",
        aggregate_id=str(meeting_id),
        data=payload.model_dump(mode="json"),
    )


def chronicle_event(event_type: str, entry_id: uuid.UUID, payload: _Payload) -> DomainEvent:
    return DomainEvent(
        topic=CHRONICLE_TOPIC,
        type=event_type,
        aggregate_type="chronicle_entry",
        aggregate_id=str(entry_id),
        data=payload.model_dump(mode="json"),
    )
