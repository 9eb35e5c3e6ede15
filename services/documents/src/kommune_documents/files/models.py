"""Case files, their processes and named readers, and the per-plan-unit file number counters."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseFile(Base):
    """An Akte. Its file number is ``<plan code>/<year>/<sequence>`` and never changes."""

    __tablename__ = "case_files"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("confidentiality IN ('normal', 'confidential')", name="confidentiality"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
        UniqueConstraint("plan_unit_id", "year", "sequence", name="uq_case_files_sequence"),
        Index("ix_case_files_department", "department", "id"),
        Index("ix_case_files_opened", "opened_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan_units.id", ondelete="RESTRICT"), index=True
    )
    file_number: Mapped[str] = mapped_column(String(80), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(40))
    confidentiality: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=Status.OPEN)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Start of the retention period."""
    created_by: Mapped[str] = mapped_column(String(255))
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Set on files created from another service's events: one open file per key
    (``egov:<department>:<service code>:<year>``)."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    legal_hold: Mapped[str | None] = mapped_column(String(500))
    """The reason of a legal hold (Aufbewahrungssperre); while set, nothing is disposed."""
    disposed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the content was deleted after disposal; the row stays as the tombstone."""


class FileNumberCounter(Base):
    """The last sequence number given per plan unit and year (row-locked by each new file)."""

    __tablename__ = "file_number_counters"

    plan_unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan_units.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer)


class FileReader(Base):
    """A person named on a file: may read it (and write it if caseworker of its department)."""

    __tablename__ = "file_readers"

    file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("case_files.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Process(Base):
    """A Vorgang: one matter inside a file, grouping its documents."""

    __tablename__ = "processes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
        UniqueConstraint("file_id", "sequence", name="uq_processes_sequence"),
        UniqueConstraint("source", "source_id", name="uq_processes_source"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=Status.OPEN)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(40))
    """What created it from outside (``egov.application``), with ``source_id``: once per source."""
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reference: Mapped[str | None] = mapped_column(String(100))
    """The source's own reference (the case number the citizen sees)."""
