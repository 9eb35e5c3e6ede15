"""Idea and idea-history tables, with the columns full-text search runs on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kommune_ideas.base import Base
from kommune_ideas.clock import utc_now
from kommune_ideas.departments.models import Department
from kommune_ideas.ideas.workflow import IdeaStatus

TEXT_SEARCH_CONFIG = "german"

TAGS_TEXT_FUNCTION = "ideas_tags_text"
"""``array_to_string`` is only STABLE; generated columns need an IMMUTABLE wrapper (migration)."""

SEARCH_TEXT_SQL = (
    "lower(title || ' ' || problem_statement || ' ' || proposed_solution || ' ' || added_value"
    f" || ' ' || description || ' ' || {TAGS_TEXT_FUNCTION}(tags) || ' ' || coalesce(answer, ''))"
)
"""Every text field, lower-cased, for trigram substring matches inside compound words."""

SEARCH_VECTOR_SQL = (
    f"setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, title), 'A')"
    f" || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig,"
    " problem_statement || ' ' || proposed_solution), 'B')"
    f" || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig,"
    f" added_value || ' ' || description || ' ' || {TAGS_TEXT_FUNCTION}(tags)"
    " || ' ' || coalesce(answer, '')), 'C')"
)
"""German stemming: title weighs most (A), problem and solution next (B), the rest (C)."""

_STATUS_VALUES = ", ".join(f"'{status}'" for status in IdeaStatus)


class Idea(Base):
    __tablename__ = "ideas"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    problem_statement: Mapped[str] = mapped_column(Text)
    proposed_solution: Mapped[str] = mapped_column(Text)
    added_value: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), default=list, server_default=text("'{}'")
    )
    status: Mapped[str] = mapped_column(String(32), default=IdeaStatus.IDEA.value)
    answer: Mapped[str | None] = mapped_column(Text)
    """The note of the latest status change: the official answer shown with the idea."""
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str | None] = mapped_column(String(200))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id"))
    endorsement_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    change_agent_comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leaders_comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    """Latest activity every staff member can see: posted, edited, status, endorsements."""
    change_agent_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Latest comment in the change agents' forum (counts as activity only for its readers)."""
    leaders_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Latest comment in the leaders' forum (counts as activity only for its readers)."""
    # Only for WHERE clauses: never loaded (deferred; reading them raises instead of querying).
    search_text: Mapped[str] = mapped_column(
        Text,
        Computed(SEARCH_TEXT_SQL, persisted=True),
        deferred=True,
        deferred_raiseload=True,
    )
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(SEARCH_VECTOR_SQL, persisted=True),
        deferred=True,
        deferred_raiseload=True,
    )

    department: Mapped[Department] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        CheckConstraint("endorsement_count >= 0", name="endorsement_count"),
        Index("ix_ideas_created", "created_at", "id"),
        Index("ix_ideas_endorsed", "endorsement_count", "id"),
        Index("ix_ideas_activity", "last_activity_at", "id"),
        Index("ix_ideas_status_created", "status", "created_at"),
        Index("ix_ideas_department_created", "department_id", "created_at"),
        Index("ix_ideas_author_created", "author_id", "created_at"),
        Index("ix_ideas_tags", "tags", postgresql_using="gin"),
        # fastupdate off: ideas are written rarely and searched often; a GIN pending list
        # (the default) makes the planner avoid these indexes until the next vacuum.
        Index(
            "ix_ideas_search_vector",
            "search_vector",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
        Index(
            "ix_ideas_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )


class HistoryKind:
    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"


class IdeaHistoryEntry(Base):
    """One step in an idea's life: posted, edited, or a status change with its note."""

    __tablename__ = "idea_history"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    idea_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_fields: Mapped[list[str] | None] = mapped_column(JSONB)
    actor_id: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """Set when the change was an outcome recorded in an innovation circle's minutes."""
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        CheckConstraint("kind IN ('created', 'updated', 'status_changed')", name="kind"),
        Index("ix_idea_history_idea", "idea_id", "occurred_at", "id"),
    )
