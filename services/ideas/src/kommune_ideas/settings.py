"""Settings of the ideas service (environment prefix ``IDEAS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kommune.settings import ServiceSettings


class IdeasSettings(ServiceSettings):
    """``IDEAS_DATABASE_URL``, ``IDEAS_KAFKA_BOOTSTRAP_SERVERS``, ``IDEAS_RELAY_ENABLED`` …"""

    model_config = SettingsConfigDict(env_prefix="IDEAS_", extra="ignore")

    service_name: str = "ideas"
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/ideas"
    consumer_group_prefix: str = Field(
        default="ideas",
        min_length=1,
        max_length=100,
        description="Prefix of the Kafka consumer groups of this service (one group per handler).",
    )
    egov_service_topic: str = Field(
        default="egov.service.v1",
        pattern=r"^[a-zA-Z0-9._-]{1,249}$",
        description="Where egov announces e-services going live (tests use a topic of their own).",
    )
