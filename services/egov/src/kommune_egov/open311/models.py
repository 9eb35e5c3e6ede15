"""Open311 tables: the client apps (API keys, stored hashed) and what a report adds to its case.

A damage report *is* an application (the caseworkers' queue, history, status, place, reporter's
name and e-mail): this table keeps only what Open311 has and an application does not — the
numeric ``service_request_id`` of the standard, ``address_id``, ``media_url``, the other contact
fields, and the link to an earlier open report of the same kind nearby (the duplicate hint).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_egov.base import Base


class Open311Client(Base):
    """A third-party app allowed to post reports. Its key is stored as SHA-256 only."""

    __tablename__ = "open311_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(8))
    """The key's first characters, so operators can tell keys apart (never enough to use)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Open311Report(Base):
    """The Open311 side of a damage-report application (place, contact, status live there)."""

    __tablename__ = "open311_reports"

    service_request_id: Mapped[int] = mapped_column(
        BigInteger, Identity(start=100001), primary_key=True
    )
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("open311_clients.id"))
    address_id: Mapped[str | None] = mapped_column(String(100))
    media_url: Mapped[str | None] = mapped_column(String(2000))
    """Stored as sent and shown; the server never fetches it."""
    phone: Mapped[str | None] = mapped_column(String(50))
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("open311_reports.service_request_id")
    )
    """An open report of the same service within 50 m and 14 days (the duplicate hint)."""
    service_notice: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (Index("ix_open311_reports_duplicate_of", "duplicate_of"),)
