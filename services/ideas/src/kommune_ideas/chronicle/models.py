"""Chronicle tables: entries (written by editors or by the service itself) and their comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune_ideas.base import Base
from kommune_ideas.clock import utc_now


class EntryKind(StrEnum):
    NEWS = "news"
    """Written by an editor."""
    IDEA_IMPLEMENTED = "idea_implemented"
    """Written by the service: an idea was implemented."""
    DECISION_TAKEN = "decision_taken"
    """Written by the service: the leaders decided on an idea."""
    ANNOUNCEMENT = "announcement"
    """Written by the service from another service's event (e.g. a new e-service went live)."""


_KIND_VALUES = ", ".join(f"'{kind}'" for kind in EntryKind)


class ChronicleEntry(Base):
    __tablename__ = "chronicle_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(255))
    """The editor; NULL for entries the service wrote itself."""
    author_name: Mapped[str | None] = mapped_column(String(200))
    idea_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The idea an automatic entry is about (no foreign key: entries are written from events)."""
    link_url: Mapped[str | None] = mapped_column(String(2000))
    source_event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    """``ce_id`` of the event an automatic entry was written from (one entry per event)."""
    comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_VALUES})", name="kind"),
        Index("ix_chronicle_entries_published", "published_at", "id"),
        Index("ix_chronicle_entries_idea", "idea_id"),
    )


class ChronicleComment(Base):
    __tablename__ = "chronicle_comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chronicle_entries.id", ondelete="CASCADE")
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chronicle_comments.id", ondelete="CASCADE")
    )
    author_id: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        Index("ix_chronicle_comments_thread", "entry_id", "created_at", "id"),
        Index("ix_chronicle_comments_parent", "parent_id", "created_at", "id"),
    )
