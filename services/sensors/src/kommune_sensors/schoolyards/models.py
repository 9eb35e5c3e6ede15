"""How far each schoolyard datastream has been evaluated, and the run of active intervals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from kommune_sensors.base import Base


class SchoolyardWatch(Base):
    __tablename__ = "schoolyard_watch"

    datastream_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    evaluated_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The newest reading evaluated (readings older than it that arrive late are not)."""
    run_length: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive active night intervals up to ``evaluated_until``."""
