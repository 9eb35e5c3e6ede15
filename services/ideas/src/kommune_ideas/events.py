"""The events of the ideas service: topics, types and payloads (one JSON Schema per type).

The payload models are the ones generated from ``schemas/events/ideas/<type>.json`` into
``kommune_schemas.generated.ideas`` (``make schemas``), re-exported here; the tests validate every
outbox row against those files. The service fills them with its own enums (``IdeaStatus``,
``Forum``, ``AgendaItemKind``, ``EntryKind``), which the generated enum fields take by value; the
contract tests keep both sets of values equal.

Everything in a payload is visible to every staff role (the idea store is open to all staff).
Comment events carry ids and the forum, never the text: the forums are closed to most staff.
"""

from __future__ import annotations

from typing import TypeAlias

from kommune.event_factory import AggregateEvents
from kommune.events.outbox import declare_outbox_topics
from kommune.events.topics import DAY_MS, TopicSpec
from kommune_schemas.generated.ideas import (
    AgendaEntry,
    ChronicleCommentedV1,
    ChroniclePublishedV1,
    IdeaCommentedV1,
    IdeaCreatedV1,
    IdeaEndorsedV1,
    IdeaEndorsementWithdrawnV1,
    IdeaStatusChangedV1,
    IdeaUpdatedV1,
    MeetingOutcomeRecordedV1,
    MeetingScheduledV1,
)

__all__ = [
    "CHRONICLE_COMMENTED",
    "CHRONICLE_PUBLISHED",
    "CHRONICLE_TOPIC",
    "EGOV_SERVICE_PUBLISHED",
    "EGOV_SERVICE_TOPIC",
    "EMITTED_TYPES",
    "IDEA_COMMENTED",
    "IDEA_CREATED",
    "IDEA_ENDORSED",
    "IDEA_ENDORSEMENT_WITHDRAWN",
    "IDEA_STATUS_CHANGED",
    "IDEA_TOPIC",
    "IDEA_UPDATED",
    "MEETING_OUTCOME_RECORDED",
    "MEETING_SCHEDULED",
    "MEETING_TOPIC",
    "SOURCE",
    "TOPICS",
    "AgendaEntry",
    "ChronicleCommentedV1",
    "ChroniclePayload",
    "ChroniclePublishedV1",
    "IdeaCommentedV1",
    "IdeaCreatedV1",
    "IdeaEndorsedV1",
    "IdeaEndorsementWithdrawnV1",
    "IdeaPayload",
    "IdeaStatusChangedV1",
    "IdeaUpdatedV1",
    "MeetingOutcomeRecordedV1",
    "MeetingPayload",
    "MeetingScheduledV1",
    "chronicle_event",
    "consumed_topics",
    "declared_topics",
    "idea_event",
    "meeting_event",
]

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
declare_outbox_topics(SOURCE, TOPICS)  # its outbox refuses any other topic


def consumed_topics(egov_service_topic: str = EGOV_SERVICE_TOPIC) -> tuple[TopicSpec, ...]:
    """Topics of other services the chronicle reads, declared here as well so that it can
    subscribe before egov ever started (creation is idempotent; egov's declaration is the same)."""
    return (TopicSpec(name=egov_service_topic, partitions=3, retention_ms=30 * DAY_MS),)


def declared_topics(egov_service_topic: str = EGOV_SERVICE_TOPIC) -> tuple[TopicSpec, ...]:
    """Every topic the service ensures at start: its own and those it consumes. The app and the
    Kubernetes KafkaTopic renderer (``k8s/tools/render_topics.py``) both read this."""
    return (*TOPICS, *consumed_topics(egov_service_topic))


IdeaPayload: TypeAlias = (
    IdeaCreatedV1
    | IdeaUpdatedV1
    | IdeaStatusChangedV1
    | IdeaCommentedV1
    | IdeaEndorsedV1
    | IdeaEndorsementWithdrawnV1
)
MeetingPayload: TypeAlias = MeetingScheduledV1 | MeetingOutcomeRecordedV1
ChroniclePayload: TypeAlias = ChroniclePublishedV1 | ChronicleCommentedV1


idea_event = AggregateEvents(IDEA_TOPIC, "idea")
meeting_event = AggregateEvents(MEETING_TOPIC, "meeting")
chronicle_event = AggregateEvents(CHRONICLE_TOPIC, "chronicle_entry")
"""``idea_event(IDEA_CREATED, idea.id, payload)`` -> the :class:`DomainEvent` for the outbox."""
