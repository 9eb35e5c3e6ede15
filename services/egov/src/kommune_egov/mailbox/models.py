"""The citizen mailbox: a message per status change and per caseworker request."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_egov.base import Base


class MailboxMessage(Base):
    __tablename__ = "mailbox_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    recipient_sub: Mapped[str] = mapped_column(String(255))
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("applications.id"))
    kind: Mapped[str] = mapped_column(String(30))
    """``submitted``, ``status_changed`` or ``info_requested``."""
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    attachment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("attachments.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_mailbox_recipient", "recipient_sub", "created_at", "id"),
        Index(
            "ix_mailbox_unread",
            "recipient_sub",
            postgresql_where=text("read_at IS NULL"),
        ),
    )
