"""Settings base: one pydantic-settings class per service, each with its own env prefix.

Platform-wide values (environment, OIDC issuer, Kafka topic prefix) are read from ``KOMMUNE_*``
variables so that one setting serves every service; everything else is read with the service's
prefix, e.g. ``IDEAS_DATABASE_URL``.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Self

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
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

    # -- signed list cursors (kommune.pagination) ---------------------------------------------
    cursor_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        validation_alias=AliasChoices("KOMMUNE_CURSOR_SECRET"),
        description=(
            "Key of the HMAC that signs list cursors (one per deployment, at least 32 "
            "characters). Required in production; in dev and test an unset key is a random one "
            "per process, so cursors do not survive a restart."
        ),
    )
    _cursor_key: bytes = PrivateAttr(default=b"")

    @model_validator(mode="after")
    def _cursor_key_for_dev_and_test(self) -> Self:
        if self.cursor_secret is not None:
            self._cursor_key = self.cursor_secret.get_secret_value().encode()
        elif self.is_dev_or_test:
            self._cursor_key = secrets.token_bytes(32)
        return self

    @property
    def cursor_key(self) -> bytes:
        """The cursor key; fails closed outside dev and test when none is configured.

        Services ask for it when they are built (``create_service_app``), so a production service
        without ``KOMMUNE_CURSOR_SECRET`` does not start; the gateway has no lists and no need.
        """
        if not self._cursor_key:
            raise ValueError("KOMMUNE_CURSOR_SECRET is required outside dev and test")
        return self._cursor_key
