"""Incoming post (mail items) and the rules that route it to a department's inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class MailStatus(StrEnum):
    AWAITING_OCR = "awaiting_ocr"
    """Scanned: routed once its text is read."""
    IN_INBOX = "in_inbox"
    """In a department's inbox (or the central one, department null), waiting to be filed."""
    FILED = "filed"


class RoutingRule(Base):
    """Post from ``sender`` or mentioning ``keyword`` goes to ``department`` (lowest priority
    number first; case-insensitive substring matches)."""

    __tablename__ = "mail_routing_rules"
    __table_args__ = (
        CheckConstraint("sender IS NOT NULL OR keyword IS NOT NULL", name="sender_or_keyword"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    department: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str | None] = mapped_column(String(200))
    keyword: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class MailItem(Base):
    __tablename__ = "mail_items"
    __table_args__ = (
        Index("ix_mail_items_inbox", "status", "department", "received_at", "id"),
        CheckConstraint("status IN ('awaiting_ocr', 'in_inbox', 'filed')", name="mail_item_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256", ondelete="RESTRICT"))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    content_text: Mapped[str] = mapped_column(Text, default="")
    ocr_status: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(40))
    """The inbox it is in; null: the central inbox (no rule matched)."""
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mail_routing_rules.id", ondelete="SET NULL")
    )
    received_by: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL")
    )
    filed_by: Mapped[str | None] = mapped_column(String(255))
    filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
