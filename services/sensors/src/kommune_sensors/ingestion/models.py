"""Observation storage: a table partitioned by day on ``phenomenon_time``, and its roll-ups.

The primary key ``(datastream_id, phenomenon_time)`` is what makes a reading sent twice one
row (``INSERT ... ON CONFLICT DO NOTHING``); it also serves "the readings of a datastream in a
time range" and "the latest reading". ``id`` (from a sequence) is the SensorThings id; it is
unique because only the sequence fills it, and indexed per partition. Partitions are created
ahead by :mod:`kommune_sensors.ingestion.partitions`, never by a migration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Sequence,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kommune_sensors.base import Base

OBSERVATION_IDS = Sequence("observation_ids", metadata=Base.metadata)


class Observation(Base):
    __tablename__ = "observations"

    datastream_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phenomenon_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, server_default=OBSERVATION_IDS.next_value())
    result: Mapped[float] = mapped_column(Double)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    __table_args__ = (
        Index("ix_observations_id", "id"),
        {"postgresql_partition_by": "RANGE (phenomenon_time)"},
    )


class ObservationHourly(Base):
    """Per datastream and UTC hour: count, sum, min, max of the stored readings."""

    __tablename__ = "observations_hourly"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)


class ObservationDaily(Base):
    """Per datastream and calendar day in Europe/Berlin (the city's day)."""

    __tablename__ = "observations_daily"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)
