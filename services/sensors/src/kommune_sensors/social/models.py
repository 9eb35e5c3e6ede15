"""What staff record for the social map: a count, never a person."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kommune_sensors.base import Base
from kommune_sensors.clock import utc_now


class SocialRecord(Base):
    """``count`` help offers or requests taken up in ``district`` on ``day`` (no names, no
    addresses, no free text: nothing about the people helped or helping)."""

    __tablename__ = "social_records"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    district: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(255))
    """The staff member's subject (who entered the figure), for the audit trail."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    __table_args__ = (
        CheckConstraint("kind IN ('offer', 'request')", name="kind_known"),
        CheckConstraint("count BETWEEN 1 AND 1000", name="count_range"),
        Index("ix_social_records_day", "day", "district"),
    )
