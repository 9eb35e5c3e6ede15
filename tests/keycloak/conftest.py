"""The gateway and the ideas service trusting a real Keycloak realm (no dev issuer anywhere).

Both run as real uvicorn servers in production mode (``KOMMUNE_ENVIRONMENT=production``: the
gateway mounts no ``/auth/dev``), with real PostgreSQL and Kafka, and discover the realm's keys
over HTTP exactly as they would in a city's data centre. Everything that depends on how the token
verifier is configured lives in :class:`VerifierProfile` below, in one place.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from kommune.testing.infra import CreateDatabase
from kommune.testing.keycloak import KeycloakRealm
from kommune.testing.platform import AppUnderTest, running_platform
from kommune_gateway.main import create_gateway_app
from kommune_gateway.settings import GatewaySettings
from kommune_ideas.main import create_app as create_ideas_app
from kommune_ideas.settings import IdeasSettings

REPO = Path(__file__).resolve().parents[2]
IDEAS_ALEMBIC = REPO / "services" / "ideas" / "alembic.ini"
GATEWAY_ALEMBIC = REPO / "gateway" / "alembic.ini"

# The first test of a session may pay for Keycloak's one-time fetch, build and first boot.
KEYCLOAK_TEST_TIMEOUT = 900


# ---- the token verifier's configuration: the one place to adapt when the verifier changes -------


@dataclass(frozen=True, slots=True)
class VerifierProfile:
    """How the platform's token verifier is configured in these tests, and its time bounds."""

    refetch_interval: float = 10.0
    """A token naming an unknown key makes the verifier refetch the JWKS at most this often."""
    leeway: float = 30.0
    """Clock skew the verifier allows on ``exp``: a token is refused only this long after it."""

    @staticmethod
    def settings(issuer: str, service: str) -> dict[str, str]:
        """The settings a service (``gateway``, ``ideas``, ...) needs to trust ``issuer``."""
        return {"KOMMUNE_OIDC_ISSUER": issuer, "oidc_audience": f"kommune-{service}"}

    async def wait_until_refetch_allowed(self, since: float) -> None:
        """Wait until a refetch is allowed again after the last JWKS fetch (at or before
        ``since``, a ``time.monotonic()``): a time rule of the verifier, not a guess."""
        remaining = since + self.refetch_interval - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining + 0.1)


VERIFIER = VerifierProfile()


# ---- the platform --------------------------------------------------------------------------------


@dataclass
class KeycloakPlatform:
    realm: KeycloakRealm
    gateway: httpx.AsyncClient
    ideas: httpx.AsyncClient
    """The ideas service called directly (it verifies tokens itself, for its own audience)."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


GATEWAY = AppUnderTest("gateway", create_gateway_app, GatewaySettings, GATEWAY_ALEMBIC)
IDEAS = AppUnderTest("ideas", create_ideas_app, IdeasSettings, IDEAS_ALEMBIC)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def keycloak_platform(
    keycloak_realm: KeycloakRealm,
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
) -> AsyncIterator[KeycloakPlatform]:
    platform = running_platform(
        create_database,
        gateway=GATEWAY,
        services=[IDEAS],
        common={
            "KOMMUNE_ENVIRONMENT": "production",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "KOMMUNE_KAFKA_TOPIC_PREFIX": kafka_topic_prefix,
            # Production requires the key that signs list cursors (one per deployment).
            "KOMMUNE_CURSOR_SECRET": secrets.token_hex(32),
        },
        identity=lambda app, _: VERIFIER.settings(keycloak_realm.issuer, app),
        undeployed=("documents", "egov", "sensors"),
        label="kc",
    )
    async with (
        platform as running,
        httpx.AsyncClient(base_url=running.gateway_url, timeout=30) as gateway_client,
        httpx.AsyncClient(base_url=running.urls["ideas"], timeout=30) as ideas_client,
    ):
        yield KeycloakPlatform(keycloak_realm, gateway_client, ideas_client)


@pytest.fixture(scope="module")
def verifier() -> VerifierProfile:
    return VERIFIER
