"""Comment table: both forums of an idea, one level of replies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune_ideas.access import Forum
from kommune_ideas.base import Base
from kommune_ideas.clock import utc_now

_FORUM_VALUES = ", ".join(f"'{forum}'" for forum in Forum)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    idea_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    forum: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    """The comment this one replies to; replies themselves take no replies."""
    author_id: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        CheckConstraint(f"forum IN ({_FORUM_VALUES})", name="forum"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        # Top-level comments of one forum of one idea, in order; replies of one comment.
        Index("ix_comments_thread", "idea_id", "forum", "created_at", "id"),
        Index("ix_comments_parent", "parent_id", "created_at", "id"),
    )
