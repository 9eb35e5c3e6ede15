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

    # -- the server at the edge (kommune.serve, docs/adr/0009-limits-at-the-edge.md) -----------
    http_header_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds from connect (or a request's first byte) to the end of its headers → 408."""
    http_body_timeout: float = Field(default=15.0, gt=0, le=600)
    """Seconds the body may stall between two reads → 408 and the connection closed."""
    http_max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    """Request line and headers together → 431 above."""
    http_max_header_count: int = Field(default=100, ge=16, le=1000)
    http_keep_alive_timeout: int = Field(default=5, ge=1, le=300)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Port of the separate ``/metrics`` listener; unset: public port + 1000; 0: none."""
