"""Applications (cases), their append-only history and the submit idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_egov.base import Base


class Application(Base):
    """A case: a citizen's application, a damage report (also from Open311) or a work order."""

    __tablename__ = "applications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    """The case number citizens quote (``EG-2026-000042``)."""
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("services.id"))
    service_code: Mapped[str] = mapped_column(String(60))
    service_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(20))
    """``citizen`` (REST), ``open311`` (a client app), ``sensor`` (a work order from an alert)."""
    applicant_sub: Mapped[str | None] = mapped_column(String(255))
    """The citizen's token subject: who may read it and whose mailbox hears of it."""
    applicant_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    client_app: Mapped[str | None] = mapped_column(String(100))
    """The Open311 client app that submitted it."""
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    address: Mapped[str | None] = mapped_column(String(300))
    file_number: Mapped[str | None] = mapped_column(String(100))
    """The E-Akte file number, once the documents service filed the application."""
    file_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    """The sensor alert a work order was opened for (unique: one work order per alert)."""
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        Index("ix_applications_queue", "department", "submitted_at", "id"),
        Index("ix_applications_applicant", "applicant_sub", "submitted_at", "id"),
        Index("ix_applications_status", "status", "submitted_at"),
    )


class ApplicationHistoryEntry(Base):
    """One step of a case; rows are never changed or deleted (a trigger refuses it)."""

    __tablename__ = "application_history"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("applications.id"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    """1, 2, 3 … per application (unique with it): the order of the steps."""
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(20))
    actor_sub: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    __table_args__ = (
        Index("uq_application_history_position", "application_id", "position", unique=True),
    )


class IdempotencyKey(Base):
    """``Idempotency-Key`` of a submit, per caller: a retry returns the first application."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
