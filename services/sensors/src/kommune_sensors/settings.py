"""Settings of the sensors service (environment prefix ``SENSORS_``)."""

from __future__ import annotations

from pydantic import Field
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
    produce_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a request waits for the broker's ack."
    )
