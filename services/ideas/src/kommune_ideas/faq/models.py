"""FAQ table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune_ideas.base import Base
from kommune_ideas.clock import utc_now


class FaqEntry(Base):
    __tablename__ = "faq_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    question: Mapped[str] = mapped_column(String(300), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    """Display order (ascending); ties are ordered by id."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (Index("ix_faq_entries_position", "position", "id"),)
