"""Gateway settings: ``GATEWAY_*`` variables, platform-wide ones from ``KOMMUNE_*``.

The gateway has no database; the inherited ``database_url`` is unused. Upstream base URLs default
to the ports ``make up`` gives the services on one machine; an empty URL marks an upstream as
not deployed (its routes answer 503).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from kommune.settings import ServiceSettings, service_audience


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    public_base_url: str = "http://127.0.0.1:8000"

    upstream_ideas: str = "http://127.0.0.1:8101"
    upstream_documents: str = "http://127.0.0.1:8102"
    upstream_egov: str = "http://127.0.0.1:8103"
    upstream_sensors: str = "http://127.0.0.1:8104"

    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_pool_timeout: float = Field(default=5.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    upstream_max_keepalive: int = Field(default=50, ge=0)

    openapi_cache_seconds: float = Field(default=10.0, ge=0)

    # -- what one caller may hold (docs/adr/0009-limits-at-the-edge.md) --
    proxy_buffer_bytes: int = Field(default=64 * 1024, ge=0, le=1024 * 1024)
    """A body up to this size is read from the client before an upstream connection is taken."""
    max_requests_per_caller: int = Field(default=32, ge=1, le=10_000)
    """Requests in flight per token subject (or client address for anonymous reads) → 429."""

    dev_issuer_key_file: str = Field(
        default=".run/dev-issuer/jwk.json",
        validation_alias=AliasChoices("KOMMUNE_DEV_ISSUER_KEY_FILE"),
    )

    def dev_token_audiences(self) -> list[str]:
        """The ``aud`` of dev tokens: the gateway's audience and every upstream's default one."""
        return [self.oidc_audience, *(service_audience(name) for name in self.upstreams())]

    def upstreams(self) -> dict[str, str]:
        """Upstream name → base URL (empty when the service is not deployed)."""
        return {
            "ideas": self.upstream_ideas,
            "documents": self.upstream_documents,
            "egov": self.upstream_egov,
            "sensors": self.upstream_sensors,
        }
