"""Appointment tables: locations, the services offered there, opening rules, slots, bookings.

A slot is a row with its ``capacity`` and a ``booked`` counter. Booking is one conditional
``UPDATE ... SET booked = booked + 1 WHERE booked < capacity`` (see ``repository.py``), and the
``CHECK (booked BETWEEN 0 AND capacity)`` below is the last line of defence: whatever the
concurrency and however many replicas, PostgreSQL never stores an overbooked slot
(docs/adr/0014-egov-appointment-capacity.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_egov.base import Base


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class AppointmentLocation(Base):
    """A place where citizens are served (Bürgerbüro, Standesamt ...)."""

    __tablename__ = "appointment_locations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class OpeningRule(Base):
    """Opening hours of a location on one weekday (local time, Europe/Berlin)."""

    __tablename__ = "appointment_opening_rules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointment_locations.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    """ISO weekday: 1 = Monday ... 7 = Sunday."""
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday"),
        CheckConstraint("opens < closes", name="opens_before_closes"),
    )


class AppointmentOffer(Base):
    """A service offered at a location: how long one appointment takes and how many desks."""

    __tablename__ = "appointment_offers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointment_locations.id", ondelete="CASCADE")
    )
    service_code: Mapped[str] = mapped_column(String(40))
    service_name: Mapped[str] = mapped_column(String(200))
    slot_minutes: Mapped[int] = mapped_column(SmallInteger)
    capacity: Mapped[int] = mapped_column(SmallInteger)
    """Citizens served at the same time (desks) per slot."""

    __table_args__ = (
        UniqueConstraint("location_id", "service_code"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 480", name="slot_minutes"),
        CheckConstraint("capacity BETWEEN 1 AND 100", name="capacity"),
    )


class AppointmentSlot(Base):
    __tablename__ = "appointment_slots"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointment_offers.id", ondelete="CASCADE")
    )
    location_code: Mapped[str] = mapped_column(String(40))
    service_code: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(SmallInteger)
    booked: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("offer_id", "starts_at"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="within_capacity"),
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        Index("ix_appointment_slots_service_start", "service_code", "starts_at", "id"),
        Index("ix_appointment_slots_location_start", "location_code", "starts_at", "id"),
    )


class Appointment(Base):
    """One booking of one slot. The cancellation token is stored as its SHA-256 only."""

    __tablename__ = "appointments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_slots.id"), index=True)
    booker_id: Mapped[str] = mapped_column(String(255))
    """The ``sub`` of whoever booked (only they, and appointment staff, read the booking)."""
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.BOOKED.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="status"),
        Index("ix_appointments_booker", "booker_id", "created_at", "id"),
        # One active booking per person and slot (the service checks first; this is the net).
        Index(
            "uq_appointments_active_booker_slot",
            "slot_id",
            "booker_id",
            unique=True,
            postgresql_where=text("status = 'booked'"),
        ),
    )
