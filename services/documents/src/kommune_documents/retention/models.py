"""Disposal runs and their items (one per case file offered to the archive)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class RunState(StrEnum):
    OFFERED = "offered"
    """0501 sent: the archive appraises."""
    APPRAISED = "appraised"
    """0502 applied: every file has A (archive) or V (destroy); 0503 can be fetched."""
    COMPLETED = "completed"
    """0506 confirmed: content deleted, tombstones kept."""


class Outcome(StrEnum):
    ARCHIVED = "archived"
    DESTROYED = "destroyed"
    KEPT = "kept"
    """Put on legal hold after it was offered: nothing deleted."""


class DisposalRun(Base):
    __tablename__ = "disposal_runs"
    __table_args__ = (
        CheckConstraint("state IN ('offered', 'appraised', 'completed')", name="state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    state: Mapped[str] = mapped_column(String(20), default=RunState.OFFERED)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DisposalItem(Base):
    __tablename__ = "disposal_items"
    __table_args__ = (
        CheckConstraint("plan_decision IN ('A', 'B', 'V')", name="plan_decision"),
        CheckConstraint("appraisal IS NULL OR appraisal IN ('A', 'V')", name="appraisal"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('archived', 'destroyed', 'kept')", name="outcome"
        ),
        Index("ix_disposal_items_file", "file_id"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("disposal_runs.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("case_files.id", ondelete="RESTRICT"), primary_key=True
    )
    plan_decision: Mapped[str] = mapped_column(String(1))
    appraisal: Mapped[str | None] = mapped_column(String(1))
    outcome: Mapped[str | None] = mapped_column(String(10))
