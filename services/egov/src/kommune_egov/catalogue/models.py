"""The service catalogue: e-services and the versions of their application forms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_egov.base import Base


class EService(Base):
    """An e-service of the catalogue (``services``); ``code`` is its public, stable key."""

    __tablename__ = "services"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_de: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    leika_key: Mapped[str | None] = mapped_column(String(14))
    department: Mapped[str] = mapped_column(String(60))
    department_name: Mapped[str] = mapped_column(String(200))
    fee_cents: Mapped[int | None] = mapped_column(Integer)
    fee_note: Mapped[str | None] = mapped_column(String(300))
    processing_days: Mapped[int] = mapped_column(Integer)
    required_attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    keywords: Mapped[list[str]] = mapped_column(JSONB)
    needs_location: Mapped[bool] = mapped_column(Boolean)
    listed: Mapped[bool] = mapped_column(Boolean)
    form_version: Mapped[int] = mapped_column(Integer)
    """The current form (the one new applications are validated against)."""
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ServiceForm(Base):
    """One version of a service's form; never changed once stored (applications name it)."""

    __tablename__ = "service_forms"

    service_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    """JSON text, not JSONB: the order of the properties is the order of the form."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
