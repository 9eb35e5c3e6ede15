"""Registry tables. Integer ids throughout: SensorThings clients expect them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kommune_sensors.base import Base
from kommune_sensors.clock import utc_now


class DatastreamKind(StrEnum):
    """What a datastream measures decides which results are valid."""

    FILL_LEVEL = "fill_level"
    """Percent full, 0-100 (ultrasonic sensors in underground waste containers)."""
    COUNT = "count"
    """A count of something in an interval, >= 0 (pedestrians, bicycles, cars, devices)."""
    MEASUREMENT = "measurement"
    """Any finite number (temperature, noise level, ...)."""


class Thing(Base):
    __tablename__ = "things"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    district: Mapped[str | None] = mapped_column(String(100))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    """Published things' datastreams are readable anonymously (SensorThings, open data)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/geo+json")
    latitude: Mapped[float] = mapped_column(Double)
    longitude: Mapped[float] = mapped_column(Double)
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
    )


class ThingLocation(Base):
    """A thing's current location(s) (SensorThings: Thing ↔ Location, many to many)."""

    __tablename__ = "thing_locations"

    thing_id: Mapped[int] = mapped_column(
        ForeignKey("things.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HistoricalLocation(Base):
    """When a thing got its location(s) (SensorThings HistoricalLocation): one row per linking,
    written with the link, deleted with the thing."""

    __tablename__ = "historical_locations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    __table_args__ = (Index("ix_historical_locations_thing_id", "thing_id", "time"),)


class HistoricalLocationLocation(Base):
    """The locations a historical location names (SensorThings: 1..* Locations)."""

    __tablename__ = "historical_location_locations"

    historical_location_id: Mapped[int] = mapped_column(
        ForeignKey("historical_locations.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class FeatureOfInterest(Base):
    """A Location read as the FeatureOfInterest of its things' observations: the same row of
    ``locations`` (same id), mapped a second time (no table of its own; see the service docs)."""

    __table__ = Location.__table__

    id: Mapped[int]
    name: Mapped[str]
    description: Mapped[str]
    encoding_type: Mapped[str]
    latitude: Mapped[float]
    longitude: Mapped[float]


class Sensor(Base):
    __tablename__ = "sensors"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="text/plain")
    metadata_: Mapped[str] = mapped_column("metadata", String(2000), default="")


class ObservedProperty(Base):
    __tablename__ = "observed_properties"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(String(500), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")


class Datastream(Base):
    __tablename__ = "datastreams"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    kind: Mapped[str] = mapped_column(String(20))
    observation_type: Mapped[str] = mapped_column(
        String(200),
        default="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
    )
    unit_of_measurement: Mapped[dict[str, Any]] = mapped_column(JSONB)
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"), index=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"), index=True)
    observed_property_id: Mapped[int] = mapped_column(
        ForeignKey("observed_properties.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # Kept up to date by the writer in the same transaction as the rows (one datastream is
    # written by one consumer: its Kafka key is the datastream), so "latest value" and
    # "how many" are one row read, never a scan of the observations.
    latest_phenomenon_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    latest_result: Mapped[float | None] = mapped_column(Double)
    observation_count: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("kind IN ('fill_level', 'count', 'measurement')", name="kind_known"),
    )


class DeviceKey(Base):
    """A device's API key: only a SHA-256 of its secret is stored.

    The secret is 256 random bits, so a fast hash is enough (no password stretching needed:
    there is nothing to guess), and every reading request can afford the check.
    """

    __tablename__ = "device_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"))
    secret_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_device_keys_thing_id", "thing_id", "created_at"),)


__all__ = [
    "Datastream",
    "DatastreamKind",
    "DeviceKey",
    "FeatureOfInterest",
    "HistoricalLocation",
    "HistoricalLocationLocation",
    "Location",
    "ObservedProperty",
    "Sensor",
    "Thing",
    "ThingLocation",
]
