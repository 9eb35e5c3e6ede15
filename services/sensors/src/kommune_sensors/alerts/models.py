"""The alerts table: at most one open alert per datastream and kind (a partial unique index)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Double, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from kommune_sensors.base import Base


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(40))
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"))
    datastream_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("datastreams.id", ondelete="CASCADE")
    )
    value: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index(
            "ux_alerts_open",
            "datastream_id",
            "kind",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alerts_raised_at", "raised_at"),
    )
