"""Gateway settings: ``GATEWAY_*`` variables, platform-wide ones from ``KOMMUNE_*``.

The gateway's own database (``gateway``) holds idempotency records and rate-limit counters.
Upstream base URLs default to the ports ``make up`` gives the services on one machine; an empty
URL marks an upstream as not deployed (its routes answer 503).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from kommune.settings import ServiceSettings, service_audience
from kommune_gateway.ratelimit import RateRule
from kommune_gateway.resilience import UpstreamPolicy
from kommune_gateway.upstream_client import upstream_address


class UpstreamPolicyOverride(BaseModel):
    """What one upstream sets differently from the ``GATEWAY_UPSTREAM_*`` defaults."""

    model_config = ConfigDict(extra="forbid")

    connect_timeout: float | None = Field(default=None, gt=0)
    read_timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=5)
    breaker_threshold: int | None = Field(default=None, ge=1, le=1000)
    breaker_open_seconds: float | None = Field(default=None, gt=0, le=600)


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    public_base_url: str = "http://127.0.0.1:8000"  # its own address

    upstream_ideas: str = "http://127.0.0.1:8101"
    upstream_documents: str = "http://127.0.0.1:8102"
    upstream_egov: str = "http://127.0.0.1:8103"
    upstream_sensors: str = "http://127.0.0.1:8104"

    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_total_timeout: float = Field(default=30.0, gt=0)
    """First attempt until the answer's headers, retries and backoff included."""
    upstream_retries: int = Field(default=2, ge=0, le=5)
    upstream_backoff_seconds: float = Field(default=0.05, ge=0, le=5)
    breaker_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_open_seconds: float = Field(default=10.0, gt=0, le=600)
    upstream_policies: dict[str, UpstreamPolicyOverride] = Field(default_factory=dict)
    """Per upstream, e.g. ``GATEWAY_UPSTREAM_POLICIES='{"documents": {"read_timeout": 120}}'``."""
    upstream_pool_timeout: float = Field(default=5.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    upstream_max_keepalive: int = Field(default=50, ge=0)

    openapi_cache_seconds: float = Field(default=10.0, ge=0)

    # -- aggregation (/api/v1/dashboard, /api/v1/me) and the activity feed --
    aggregate_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    """Deadline of each upstream call of an aggregated answer; a late part is left out."""
    activity_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often each replica looks for activity another replica's consumer recorded."""
    activity_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    """An SSE comment this often keeps idle streams (and proxies in between) alive."""
    activity_send_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """A stream whose client reads nothing for this long is closed (memory stays bounded)."""
    activity_retention_days: int = Field(default=90, ge=1, le=3650)
    activity_consumer_group: str = "gateway.activity"
    activity_pool_size: int = Field(default=5, ge=1, le=100)
    """Database connections of the feed (list pages, stream batches, the consumer)."""

    # -- CORS for browser frontends: closed unless origins are listed --
    cors_allow_origins: list[str] = Field(default_factory=list)
    """Exact origins (``https://portal.heidenheim.de``); JSON list in the environment."""
    cors_allow_credentials: bool = False
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)

    token_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    """A verified token is trusted this long without checking its signature again (0 = off)."""

    # -- the gateway's own database: idempotency records, rate-limit counters (ADR 0015) --
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/gateway"
    database_timeout: float = Field(default=0.5, gt=0, le=10)
    """A rate-limit check that takes longer lets the request through (logged, counted)."""

    rate_limit_enabled: bool = True
    rate_limit_requests: int = Field(default=600, ge=1)
    """Per token subject and window, unless a route sets its own."""
    rate_limit_anonymous_requests: int = Field(default=60, ge=1)
    """Per client address and window for calls without a token (public reads)."""
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86_400)

    idempotency_ttl_seconds: float = Field(default=86_400, gt=0)
    idempotency_lock_seconds: float = Field(default=300, gt=0)
    """A claim older than this (its request never finished) may be taken over."""
    idempotency_max_response_bytes: int = Field(default=1024 * 1024, ge=0, le=16 * 1024 * 1024)

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

    @model_validator(mode="after")
    def _cors_origins_are_exact(self) -> GatewaySettings:
        for origin in self.cors_allow_origins:
            parts = urlsplit(origin)
            exact = parts.scheme in ("https", "http") and parts.netloc and not parts.path
            if not exact or parts.query or parts.fragment or "*" in origin:
                raise ValueError(
                    f"cors_allow_origins: {origin!r} is not an exact origin like "
                    "'https://portal.example.de' (no wildcard)"
                )
        return self

    @model_validator(mode="after")
    def _upstreams_are_plain_http(self) -> GatewaySettings:
        for name, url in self.upstreams().items():
            if url:  # empty: not deployed here
                try:
                    upstream_address(url)
                except ValueError as exc:
                    raise ValueError(f"upstream_{name}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _policies_name_upstreams(self) -> GatewaySettings:
        unknown = set(self.upstream_policies) - set(self.upstreams())
        if unknown:
            raise ValueError(f"upstream_policies names unknown upstreams: {sorted(unknown)}")
        return self

    def default_policy(self) -> UpstreamPolicy:
        return UpstreamPolicy(
            connect_timeout=self.upstream_connect_timeout,
            read_timeout=self.upstream_read_timeout,
            total_timeout=self.upstream_total_timeout,
            retries=self.upstream_retries,
            backoff_seconds=self.upstream_backoff_seconds,
            breaker_threshold=self.breaker_threshold,
            breaker_open_seconds=self.breaker_open_seconds,
        )

    def upstream_policy(self, name: str) -> UpstreamPolicy:
        """The default policy with ``upstream_policies[name]``'s values over it."""
        override = self.upstream_policies.get(name)
        if override is None:
            return self.default_policy()
        return replace(self.default_policy(), **override.model_dump(exclude_none=True))

    def rate_rule(self, anonymous: bool) -> RateRule:
        """The default budget of anonymous callers or of callers with a token."""
        return self._rate_rules[anonymous]

    @cached_property
    def _rate_rules(self) -> tuple[RateRule, RateRule]:
        # Built once: this is asked for every proxied request.
        window = self.rate_limit_window_seconds
        return (
            RateRule(self.rate_limit_requests, window),
            RateRule(self.rate_limit_anonymous_requests, window),
        )

    def upstreams(self) -> dict[str, str]:
        """Upstream name → base URL (empty when the service is not deployed)."""
        return {
            "ideas": self.upstream_ideas,
            "documents": self.upstream_documents,
            "egov": self.upstream_egov,
            "sensors": self.upstream_sensors,
        }
