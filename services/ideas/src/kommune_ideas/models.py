"""Every table of the service, imported in one place: ``metadata`` is what Alembic compares."""

from __future__ import annotations

from kommune.events.tables import add_event_tables
from kommune_ideas.base import Base
from kommune_ideas.chronicle.models import ChronicleComment, ChronicleEntry
from kommune_ideas.comments.models import Comment
from kommune_ideas.departments.models import Department
from kommune_ideas.faq.models import FaqEntry
from kommune_ideas.ideas.models import Idea, IdeaHistoryEntry
from kommune_ideas.meetings.models import AgendaItem, Meeting
from kommune_ideas.participation.models import Endorsement, Follow

metadata = Base.metadata
outbox, inbox = add_event_tables(metadata)

__all__ = [
    "AgendaItem",
    "ChronicleComment",
    "ChronicleEntry",
    "Comment",
    "Department",
    "Endorsement",
    "FaqEntry",
    "Follow",
    "Idea",
    "IdeaHistoryEntry",
    "Meeting",
    "inbox",
    "metadata",
    "outbox",
]
