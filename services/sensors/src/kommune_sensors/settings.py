"""Settings of the sensors service (environment prefix ``SENSORS_``)."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from kommune.settings import ServiceSettings


class SensorsSettings(ServiceSettings):
    """``SENSORS_DATABASE_URL``, ``SENSORS_RAW_RETENTION_DAYS``, ``SENSORS_MAX_BATCH_ROWS`` …"""

    model_config = SettingsConfigDict(env_prefix="SENSORS_", extra="ignore")

    service_name: str = "sensors"
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/sensors"
    consumer_group_prefix: str = Field(
        default="sensors",
        min_length=1,
        max_length=100,
        pattern=r"^[a-zA-Z0-9._-]+$",
        description="Prefix of the Kafka consumer groups of this service.",
    )
    max_batch_rows: int = Field(
        default=10_000, ge=1, le=100_000, description="Readings per ingestion request at most."
    )
    ingest_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Body limit of POST /api/v1/sensors/observations (the gateway's route too).",
    )
    max_clock_skew_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How far in the future a phenomenonTime may be (device clocks drift).",
    )
    raw_retention_days: int = Field(
        default=90,
        ge=2,
        le=3650,
        description=(
            "Raw observations older than this are dropped by partition; hourly and daily roll-ups "
            "are kept. Readings older than this are refused at ingestion."
        ),
    )
    partitions_ahead_days: int = Field(
        default=7, ge=1, le=60, description="Daily partitions created ahead of today."
    )
    maintenance_interval_seconds: float = Field(
        default=3600, gt=0, description="How often partitions are created ahead and expired."
    )
    writer_max_records: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Kafka records (one per datastream and request) fetched per writer batch.",
    )
    writer_enabled: bool = Field(
        default=True,
        description="Run the consumer group that writes observations to PostgreSQL.",
    )
    waste_full_threshold: float = Field(
        default=80.0,
        gt=0,
        le=100,
        description="Fill level (percent) at which a container raises sensors.alert.v1.",
    )
    # waste, traffic and schoolyards (kommune_sensors.waste, .traffic, .schoolyards)
    waste_emptying_drop: float = Field(
        default=30.0,
        gt=0,
        le=100,
        description="A fall of the fill level by at least this many points is an emptying.",
    )
    waste_history_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="Days of readings looked at for a container's last emptying and fill rate.",
    )
    waste_collection_weekdays: list[int] = Field(
        default=[0, 3],
        min_length=1,
        max_length=7,
        description="Collection days (0 = Monday ... 6 = Sunday), e.g. [0, 3].",
    )
    waste_depot_lat: float = Field(
        default=48.6851, ge=-90, le=90, description="Latitude of the depot the route starts at."
    )
    waste_depot_lon: float = Field(
        default=10.1705, ge=-180, le=180, description="Longitude of the depot."
    )
    schoolyard_night_start: time = Field(default=time(22, 0), description="Night starts (local).")
    schoolyard_night_end: time = Field(default=time(6, 0), description="Night ends (local).")
    schoolyard_timezone: str = Field(
        default="Europe/Berlin", description="Time zone of the night window (IANA name)."
    )
    schoolyard_level: float = Field(
        default=10, ge=0, description="Device count above which an interval counts as activity."
    )
    schoolyard_intervals: int = Field(
        default=3, ge=1, le=1000, description="Consecutive active intervals that make an episode."
    )
    schoolyard_max_gap_minutes: int = Field(
        default=30, ge=1, le=1440, description="A longer gap between readings ends a run."
    )
    schoolyard_interval_seconds: float = Field(
        default=60, gt=0, description="How often the schoolyard readings are evaluated."
    )
    produce_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a request waits for the broker's ack."
    )

    @field_validator("waste_collection_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day not in range(7) for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("schoolyard_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value
