"""The audit trail's one table. The database refuses UPDATE, DELETE and TRUNCATE on it
(trigger ``audit_events_append_only``, migration 0001), whoever asks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_file", "file_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    actor: Mapped[str] = mapped_column(String(255))
    """The caller's subject; ``system:<what>`` for the service's own work (event consumers)."""
    actor_roles: Mapped[str] = mapped_column(String(500), default="")
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))
    """``allowed`` or ``denied``."""
    file_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """No foreign key: the trail outlives what it is about (disposal)."""
    document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
