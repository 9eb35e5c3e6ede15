"""Settings base: one pydantic-settings class per service, each with its own env prefix.

Platform-wide values (environment, OIDC issuer, Kafka topic prefix) are read from ``KOMMUNE_*``
variables so that one setting serves every service; everything else is read with the service's
prefix, e.g. ``IDEAS_DATABASE_URL``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kommune.events.topics import validate_topic_prefix


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Base class; subclasses set ``model_config = SettingsConfigDict(env_prefix="IDEAS_")``."""

    model_config = SettingsConfigDict(env_prefix="KOMMUNE_", extra="ignore", populate_by_name=True)

    service_name: str = "kommune"
    environment: Environment = Field(
        default=Environment.DEV,
        validation_alias=AliasChoices("KOMMUNE_ENVIRONMENT"),
    )
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/postgres"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("KOMMUNE_KAFKA_TOPIC_PREFIX"),
        description=(
            "Namespace of this environment on a shared broker: physical topic = prefix + logical "
            "name, consumer group = prefix + group id. Empty in production and for make up; "
            "each test session sets its own (e.g. 't1a2b3c4d.')."
        ),
    )
    oidc_issuer: str = Field(
        default="http://127.0.0.1:8000/auth/dev",
        validation_alias=AliasChoices("KOMMUNE_OIDC_ISSUER"),
    )
    oidc_audience: str = Field(
        default="kommune",
        validation_alias=AliasChoices("KOMMUNE_OIDC_AUDIENCE"),
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("KOMMUNE_LOG_LEVEL"))
    log_json: bool = Field(default=True, validation_alias=AliasChoices("KOMMUNE_LOG_JSON"))
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    relay_enabled: bool = True
    consumers_enabled: bool = True

    @field_validator("kafka_topic_prefix")
    @classmethod
    def _valid_topic_prefix(cls, value: str) -> str:
        return validate_topic_prefix(value)

    @property
    def is_dev_or_test(self) -> bool:
        return self.environment in (Environment.DEV, Environment.TEST)

    # ---- events: outbox relay and consumers ----
    relay_database_url: str | None = Field(
        default=None,
        description=(
            "Direct PostgreSQL URL (not through a transaction pooler such as PgBouncer) for the "
            "outbox relay's leader connection, which holds a session advisory lock and LISTENs. "
            "Empty: database_url."
        ),
    )
    outbox_publish_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Time limit of each outbox send; a send that is not acknowledged in time "
        "is that row's failure (or, when the broker answers nothing, a Kafka outage).",
    )
    outbox_park_after_attempts: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Failed sends after which an outbox row is parked (kept, its aggregate "
        "waits, an operator re-drives it).",
    )
    inbox_retention_days: int = Field(
        default=60,
        ge=1,
        description="Days consumer inbox rows are kept; must be at least twice the retention "
        "of every consumed topic (checked at start).",
    )
