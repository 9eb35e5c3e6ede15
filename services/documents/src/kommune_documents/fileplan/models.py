"""Plan units of the file plan."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class ArchiveDecision(StrEnum):
    KEEP = "A"
    """Archivwürdig: handed over to the archive when retention ends."""
    APPRAISE = "B"
    """Bewerten: the archive appraises each file."""
    DESTROY = "V"
    """Vernichten: destroyed when retention ends."""


class PlanUnit(Base):
    __tablename__ = "plan_units"
    __table_args__ = (
        CheckConstraint("archive_decision IN ('A', 'B', 'V')", name="archive_decision"),
        CheckConstraint(
            "retention_years IS NULL OR retention_years BETWEEN 0 AND 200", name="retention_years"
        ),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="validity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plan_units.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)
    """Dotted code, e.g. ``0.21.1``; a child's code starts with its parent's code and a dot."""
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    retention_years: Mapped[int | None] = mapped_column(SmallInteger)
    """Years after a file is closed; ``NULL``: kept without limit."""
    archive_decision: Mapped[str] = mapped_column(String(1))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
