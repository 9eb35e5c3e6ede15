# Generated from schemas/events/ideas/ by schemas/tools/generate.py: do not edit.
# Regenerate with `make schemas`.

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel


class IdeasEventType(StrEnum):
    """
    The event types the ideas service publishes.
    """

    DE_KOMMUNE_IDEAS_CHRONICLE_COMMENTED_V1 = "de.kommune.ideas.chronicle.commented.v1"
    DE_KOMMUNE_IDEAS_CHRONICLE_PUBLISHED_V1 = "de.kommune.ideas.chronicle.published.v1"
    DE_KOMMUNE_IDEAS_IDEA_COMMENTED_V1 = "de.kommune.ideas.idea.commented.v1"
    DE_KOMMUNE_IDEAS_IDEA_CREATED_V1 = "de.kommune.ideas.idea.created.v1"
    DE_KOMMUNE_IDEAS_IDEA_ENDORSED_V1 = "de.kommune.ideas.idea.endorsed.v1"
    DE_KOMMUNE_IDEAS_IDEA_ENDORSEMENT_WITHDRAWN_V1 = "de.kommune.ideas.idea.endorsement_withdrawn.v1"
    DE_KOMMUNE_IDEAS_IDEA_STATUS_CHANGED_V1 = "de.kommune.ideas.idea.status_changed.v1"
    DE_KOMMUNE_IDEAS_IDEA_UPDATED_V1 = "de.kommune.ideas.idea.updated.v1"
    DE_KOMMUNE_IDEAS_MEETING_OUTCOME_RECORDED_V1 = "de.kommune.ideas.meeting.outcome_recorded.v1"
    DE_KOMMUNE_IDEAS_MEETING_SCHEDULED_V1 = "de.kommune.ideas.meeting.scheduled.v1"


class ChronicleCommentedV1(BaseModel):
    """
    A member of staff commented on a chronicle entry. Carries ids only; read the comment through the API. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    entry_id: Annotated[UUID, Field(description="Id of the chronicle entry.")]
    comment_id: Annotated[UUID, Field(description="Id of the comment.")]
    parent_id: Annotated[
        UUID | None,
        Field(
            description="The top-level comment this one replies to; null for a top-level comment."
        ),
    ]
    author_id: Annotated[
        str,
        Field(
            description="Subject id of the comment's author.",
            max_length=255,
            min_length=1,
        ),
    ]
    created_at: Annotated[
        AwareDatetime, Field(description="When the comment was written.")
    ]


class Tag(RootModel[str]):
    root: Annotated[str, Field(max_length=40, min_length=1)]


class IdeaEndorsedV1(BaseModel):
    """
    A member of staff endorsed an idea (once per person). Does not say who. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    endorsement_count: Annotated[
        int, Field(description="Endorsements after this one.", ge=1)
    ]
    endorsed_at: Annotated[
        AwareDatetime, Field(description="When the endorsement was given.")
    ]


class IdeaEndorsementWithdrawnV1(BaseModel):
    """
    A member of staff withdrew their endorsement of an idea. Does not say who. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    endorsement_count: Annotated[int, Field(description="Endorsements left.", ge=0)]
    withdrawn_at: Annotated[
        AwareDatetime, Field(description="When the endorsement was withdrawn.")
    ]


class ChangedField(StrEnum):
    TITLE = "title"
    PROBLEM_STATEMENT = "problem_statement"
    PROPOSED_SOLUTION = "proposed_solution"
    ADDED_VALUE = "added_value"
    DESCRIPTION = "description"
    DEPARTMENT_ID = "department_id"
    TAGS = "tags"


class IdeaUpdatedV1(BaseModel):
    """
    The author edited an idea (possible only while its status is idea). Names the changed fields, not their content; read the idea from the API for that. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    title: Annotated[
        str, Field(description="Title after the change.", max_length=200, min_length=1)
    ]
    changed_fields: Annotated[
        list[ChangedField], Field(description="The fields that changed.", min_length=1)
    ]
    updated_by: Annotated[
        str,
        Field(
            description="Subject id of whoever edited it.", max_length=255, min_length=1
        ),
    ]
    updated_at: Annotated[AwareDatetime, Field(description="When it was edited.")]


class ChronicleEntryKind(StrEnum):
    """
    news: by an editor; idea_implemented, decision_taken: from the idea workflow; announcement: from another service's event.
    """

    NEWS = "news"
    IDEA_IMPLEMENTED = "idea_implemented"
    DECISION_TAKEN = "decision_taken"
    ANNOUNCEMENT = "announcement"


class Forum(StrEnum):
    """
    change_agents: the change agents' forum; leaders: the project leads' forum.
    """

    CHANGE_AGENTS = "change_agents"
    LEADERS = "leaders"


class InitialIdeaStatus(StrEnum):
    """
    Always idea (Idee): every idea starts in this status.
    """

    IDEA = "idea"


class IdeaStatus(StrEnum):
    """
    Status of the idea: idea (Idee), in_progress (In Bearbeitung), implemented (Umgesetzt), rejected (Verworfen), for_decision (Idee zur Entscheidung).
    """

    IDEA = "idea"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    REJECTED = "rejected"
    FOR_DECISION = "for_decision"


class AgendaItemKind(StrEnum):
    """
    new_idea: posted since the previous circle; for_decision: waiting for the leaders; idea: added by hand; topic: free topic.
    """

    NEW_IDEA = "new_idea"
    FOR_DECISION = "for_decision"
    IDEA = "idea"
    TOPIC = "topic"


class ChroniclePublishedV1(BaseModel):
    """
    An entry appeared in the intranet chronicle (Chronik): news by an editor, or an entry the service wrote itself from an event (an idea implemented, a decision taken, an announcement of another service). Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    entry_id: Annotated[UUID, Field(description="Id of the chronicle entry.")]
    kind: Annotated[ChronicleEntryKind, Field(description="What kind of entry it is.")]
    title: Annotated[
        str, Field(description="Title of the entry.", max_length=200, min_length=1)
    ]
    idea_id: Annotated[
        UUID | None, Field(description="The idea the entry is about, if any.")
    ]
    source_event_id: Annotated[
        str | None,
        Field(
            description="ce_id of the event an automatic entry was written from; null for news.",
            max_length=255,
            min_length=1,
        ),
    ]
    published_at: Annotated[
        AwareDatetime, Field(description="When the entry was published.")
    ]


class IdeaCommentedV1(BaseModel):
    """
    Someone commented on an idea in one of its two forums. Carries ids and the forum only, never the text: the change agents' forum is closed to most staff and the leaders' forum to all but project leads; read the comment through the API with a token allowed to see it.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    comment_id: Annotated[UUID, Field(description="Id of the comment.")]
    parent_id: Annotated[
        UUID | None,
        Field(
            description="The top-level comment this one replies to; null for a top-level comment."
        ),
    ]
    forum: Annotated[Forum, Field(description="The forum the comment was written in.")]
    author_id: Annotated[
        str,
        Field(
            description="Subject id of the comment's author.",
            max_length=255,
            min_length=1,
        ),
    ]
    created_at: Annotated[
        AwareDatetime, Field(description="When the comment was written.")
    ]


class IdeaCreatedV1(BaseModel):
    """
    A change agent posted an idea in the change agents' forum; it starts in status idea. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    title: Annotated[
        str, Field(description="Title of the idea.", max_length=200, min_length=1)
    ]
    status: Annotated[InitialIdeaStatus, Field(description="Status of the new idea.")]
    department_id: Annotated[
        UUID, Field(description="Department (Fachbereich) the idea belongs to.")
    ]
    author_id: Annotated[
        str,
        Field(
            description="Subject id of the change agent who posted it.",
            max_length=255,
            min_length=1,
        ),
    ]
    author_name: Annotated[
        str | None,
        Field(
            description="Display name of the author, if the token carried one.",
            max_length=200,
            min_length=1,
        ),
    ]
    tags: Annotated[list[Tag], Field(description="Lower-cased tags.", max_length=10)]
    created_at: Annotated[AwareDatetime, Field(description="When the idea was posted.")]


class IdeaStatusChangedV1(BaseModel):
    """
    The status of an idea changed, by the status endpoint or by an outcome recorded in an innovation circle's minutes. The note is the official answer shown with the idea. Visible to every staff role (the idea store is open to all staff); not for citizens.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    idea_id: Annotated[UUID, Field(description="Id of the idea.")]
    title: Annotated[
        str, Field(description="Title of the idea.", max_length=200, min_length=1)
    ]
    from_status: Annotated[IdeaStatus, Field(description="Status before the change.")]
    to_status: Annotated[IdeaStatus, Field(description="Status after the change.")]
    note: Annotated[
        str,
        Field(
            description="The official answer shown with the idea.",
            max_length=5000,
            min_length=1,
        ),
    ]
    reason: Annotated[
        str | None,
        Field(
            description="Why the idea was rejected; null unless to_status is rejected.",
            max_length=5000,
            min_length=1,
        ),
    ]
    decision: Annotated[
        bool,
        Field(
            description="True when the project leads decided on an idea that was up for decision (from_status for_decision)."
        ),
    ]
    changed_by: Annotated[
        str,
        Field(
            description="Subject id of whoever changed the status.",
            max_length=255,
            min_length=1,
        ),
    ]
    changed_by_name: Annotated[
        str | None,
        Field(
            description="Display name of whoever changed the status.",
            max_length=200,
            min_length=1,
        ),
    ]
    meeting_id: Annotated[
        UUID | None,
        Field(
            description="The innovation circle whose minutes recorded this change; null for a direct change."
        ),
    ]
    changed_at: Annotated[AwareDatetime, Field(description="When the status changed.")]


class MeetingOutcomeRecordedV1(BaseModel):
    """
    The minutes of an innovation circle recorded the outcome of an agenda item. If the outcome changed the idea's status, an idea status_changed event with the same meeting_id is emitted too. Visible to change agents and project leads; the note becomes the idea's public answer when the status changed.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    meeting_id: Annotated[UUID, Field(description="Id of the meeting.")]
    agenda_item_id: Annotated[UUID, Field(description="Id of the agenda item.")]
    idea_id: Annotated[
        UUID | None, Field(description="The idea of the item; null for a free topic.")
    ]
    note: Annotated[
        str,
        Field(description="What the circle concluded.", max_length=5000, min_length=1),
    ]
    new_status: Annotated[
        IdeaStatus | None,
        Field(
            description="The status the idea moved to; null if it was only discussed."
        ),
    ]
    recorded_by: Annotated[
        str,
        Field(
            description="Subject id of whoever recorded the outcome.",
            max_length=255,
            min_length=1,
        ),
    ]
    recorded_at: Annotated[
        AwareDatetime, Field(description="When the outcome was recorded.")
    ]


class AgendaEntry(BaseModel):
    """
    One proposed agenda item.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    agenda_item_id: Annotated[UUID, Field(description="Id of the agenda item.")]
    idea_id: Annotated[
        UUID | None, Field(description="The idea discussed; null for a free topic.")
    ]
    kind: Annotated[AgendaItemKind, Field(description="Why the item is on the agenda.")]
    title: Annotated[
        str, Field(description="Title of the item.", max_length=200, min_length=1)
    ]


class MeetingScheduledV1(BaseModel):
    """
    An innovation circle (Innovationszirkel) was scheduled, with the agenda proposed for it: every idea posted since the previous circle and every idea up for decision. Visible to change agents and project leads; agenda titles are idea titles, which every staff role may read.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    meeting_id: Annotated[UUID, Field(description="Id of the meeting.")]
    title: Annotated[
        str, Field(description="Title of the meeting.", max_length=200, min_length=1)
    ]
    scheduled_at: Annotated[AwareDatetime, Field(description="When the circle meets.")]
    location: Annotated[
        str | None, Field(description="Where it meets.", max_length=200, min_length=1)
    ]
    participant_count: Annotated[
        int, Field(description="Number of invited participants.", ge=0)
    ]
    agenda: Annotated[
        list[AgendaEntry], Field(description="The agenda as proposed, in order.")
    ]
    scheduled_by: Annotated[
        str,
        Field(description="Subject id of the organiser.", max_length=255, min_length=1),
    ]
