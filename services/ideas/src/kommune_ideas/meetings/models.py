"""Innovation circle tables: meetings and their agenda items with the recorded outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kommune_ideas.base import Base
from kommune_ideas.clock import utc_now


class AgendaItemKind(StrEnum):
    NEW_IDEA = "new_idea"
    """Proposed automatically: an idea posted since the previous circle."""
    FOR_DECISION = "for_decision"
    """Proposed automatically: an idea waiting for the leaders' decision."""
    IDEA = "idea"
    """An idea added to the agenda by hand."""
    TOPIC = "topic"
    """A free topic without an idea."""


_KIND_VALUES = ", ".join(f"'{kind}'" for kind in AgendaItemKind)


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(200))
    participants: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    minutes: Mapped[str | None] = mapped_column(Text)
    """Free-text minutes; the outcome per agenda item is recorded on the item."""
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    agenda_items: Mapped[list[AgendaItem]] = relationship(
        lazy="raise", order_by="AgendaItem.position", back_populates="meeting"
    )

    __table_args__ = (Index("ix_meetings_scheduled", "scheduled_at", "id"),)


class AgendaItem(Base):
    __tablename__ = "agenda_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    idea_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    outcome_status: Mapped[str | None] = mapped_column(String(32))
    """The status the idea moved to because of this outcome; NULL if it was only discussed."""
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    outcome_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome_recorded_by: Mapped[str | None] = mapped_column(String(255))

    meeting: Mapped[Meeting] = relationship(lazy="raise", back_populates="agenda_items")

    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_VALUES})", name="kind"),
        CheckConstraint("(kind = 'topic') = (idea_id IS NULL)", name="idea_iff_not_topic"),
        UniqueConstraint("meeting_id", "idea_id", name="uq_agenda_items_meeting_idea"),
        Index("ix_agenda_items_meeting", "meeting_id", "position"),
        Index("ix_agenda_items_idea", "idea_id"),
    )
