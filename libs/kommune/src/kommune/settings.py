"""Settings base: one pydantic-settings class per service, each with its own env prefix.

Platform-wide values (environment, OIDC issuer, Kafka topic prefix) are read from ``KOMMUNE_*``
variables so that one setting serves every service; everything else is read with the service's
prefix, e.g. ``IDEAS_DATABASE_URL`` or ``IDEAS_OIDC_AUDIENCE``.

Missing settings close the door (ADR 0005): the environment defaults to ``production`` (no dev
issuer), there is no default OIDC issuer (without one no token is accepted), and each service
has its own audience, ``kommune-<service_name>`` unless set.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kommune.events.topics import validate_topic_prefix


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


def service_audience(service_name: str) -> str:
    """The default OIDC audience of a service: ``kommune-<service_name>`` (``kommune-ideas``)."""
    return f"kommune-{service_name}"


PUBLIC_BASE_URL_PATTERN = r"^https?://[^\s/]+(/[^\s]*)?$"
"""An absolute http(s) URL without whitespace (``public_base_url`` of every app)."""


class ServiceSettings(BaseSettings):
    """Base class; subclasses set ``model_config = SettingsConfigDict(env_prefix="IDEAS_")``."""

    model_config = SettingsConfigDict(env_prefix="KOMMUNE_", extra="ignore", populate_by_name=True)

    service_name: str = "kommune"
    # -- environment and authentication (ADR 0005) ------------------------------------------------
    environment: Environment = Field(
        default=Environment.PRODUCTION,
        validation_alias=AliasChoices("KOMMUNE_ENVIRONMENT"),
        description="production unless set: the dev issuer exists only in dev and test.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KOMMUNE_OIDC_ISSUER"),
        description=(
            "The OIDC issuer URL (the iss of its tokens, discovery below it). No default: "
            "without it no token is accepted and /readyz fails."
        ),
    )
    oidc_audience: str = Field(
        default="",
        description=(
            "This service's audience (<PREFIX>OIDC_AUDIENCE); empty = kommune-<service_name>. "
            "A token must list it in aud."
        ),
    )
    oidc_authorized_parties: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        validation_alias=AliasChoices("KOMMUNE_OIDC_AUTHORIZED_PARTIES"),
        description="Comma-separated client ids allowed as azp; empty = azp not checked.",
    )
    oidc_jwks_refresh_seconds: float = Field(
        default=300,
        ge=1,
        validation_alias=AliasChoices("KOMMUNE_OIDC_JWKS_REFRESH_SECONDS"),
        description="How often the issuer's key set is refreshed in the background.",
    )
    oidc_jwks_grace_seconds: float = Field(
        default=300,
        ge=0,
        validation_alias=AliasChoices("KOMMUNE_OIDC_JWKS_GRACE_SECONDS"),
        description="How long a key that vanished from the issuer's JWKS is still accepted.",
    )
    oidc_jwks_max_stale_seconds: float = Field(
        default=3600,
        ge=60,
        validation_alias=AliasChoices("KOMMUNE_OIDC_JWKS_MAX_STALE_SECONDS"),
        description="Cached keys are dropped (503) when no refresh succeeded for this long.",
    )
    # -- end of environment and authentication ----------------------------------------------------
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
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("KOMMUNE_LOG_LEVEL"))
    log_json: bool = Field(default=True, validation_alias=AliasChoices("KOMMUNE_LOG_JSON"))
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_base_url: str | None = Field(
        default=None,
        pattern=PUBLIC_BASE_URL_PATTERN,
        max_length=500,
        description=(
            "The platform's public address (the gateway's, e.g. https://kommune.heidenheim.de): "
            "absolute links in answers (SensorThings self and next links, Location) are built "
            "on it. Unset: on the address the request came to (a service called directly)."
        ),
    )
    relay_enabled: bool = True
    consumers_enabled: bool = True

    @field_validator("oidc_issuer", mode="before")
    @classmethod
    def _valid_issuer(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            if not value:
                return None  # an empty variable means no issuer, not the issuer ""
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http(s) URL")
            if parts.query or parts.fragment:
                raise ValueError("must not have a query or fragment")
        return value

    @field_validator("oidc_authorized_parties", mode="before")
    @classmethod
    def _split_parties(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _default_audience(self) -> ServiceSettings:
        if not self.oidc_audience:
            self.oidc_audience = service_audience(self.service_name)
        return self

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

        Apps ask for it when they are built (``create_service_app``, ``create_gateway_app`` for
        the activity feed's pages), so a production app without ``KOMMUNE_CURSOR_SECRET`` does
        not start.
        """
        if not self._cursor_key:
            raise ValueError("KOMMUNE_CURSOR_SECRET is required outside dev and test")
        return self._cursor_key

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
