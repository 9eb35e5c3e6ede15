"""Settings of the egov service (environment prefix ``EGOV_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kommune.settings import PUBLIC_BASE_URL_PATTERN, ServiceSettings


class EgovSettings(ServiceSettings):
    """``EGOV_DATABASE_URL``, ``EGOV_KAFKA_BOOTSTRAP_SERVERS``, ``EGOV_RELAY_ENABLED`` …"""

    model_config = SettingsConfigDict(env_prefix="EGOV_", extra="ignore")

    service_name: str = "egov"
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/egov"
    consumer_group_prefix: str = Field(
        default="egov",
        min_length=1,
        max_length=100,
        description="Prefix of the Kafka consumer groups of this service (one group per handler).",
    )
    public_base_url: str = Field(  # egov always has one (links in events and messages)
        default="https://kommune.heidenheim.de",
        pattern=PUBLIC_BASE_URL_PATTERN,
        max_length=500,
        description="Where citizens reach the platform (links in events and mailbox messages).",
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=50 * 1024 * 1024,
        description="Largest attachment (PDF, JPEG, PNG; the type is read from the bytes).",
    )
    webhook_dispatch_enabled: bool = Field(
        default=True, description="Send queued webhook deliveries from this process."
    )
    webhook_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    webhook_backoff_base_seconds: float = Field(
        default=30.0, gt=0, description="Retry n waits base * 2^(n-1) (capped at 6 h, jittered)."
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description=(
            "Deliver to loopback/private addresses (dev and tests only: in production a webhook "
            "must not reach the city's internal network)."
        ),
    )
    catalogue_sync_enabled: bool = Field(
        default=True,
        description=(
            "Bring the stored service catalogue up to the one shipped with the service at start "
            "(new services, new form versions; a new service is announced on egov.service.v1)."
        ),
    )
