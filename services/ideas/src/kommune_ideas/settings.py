"""Settings of the ideas service (environment prefix ``IDEAS_``)."""

from __future__ import annotations

from kommune.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


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
