"""The platform as a user meets it: the gateway and the services as real HTTP servers.

Each server is a uvicorn instance on a free loopback port in this test process. Nothing is
injected: the services discover the gateway's dev issuer over HTTP, the gateway proxies over
HTTP, events go through the real outbox relay into the real Kafka broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.db import create_engine
from kommune.events.topics import physical_topic
from kommune.testing.infra import CreateDatabase
from kommune.testing.platform import AppUnderTest, Identity, running_platform
from kommune_gateway.main import create_gateway_app
from kommune_gateway.settings import GatewaySettings
from kommune_ideas.main import create_app as create_ideas_app
from kommune_ideas.settings import IdeasSettings

REPO = Path(__file__).resolve().parents[2]
IDEAS_ALEMBIC = REPO / "services" / "ideas" / "alembic.ini"
GATEWAY_ALEMBIC = REPO / "gateway" / "alembic.ini"


@dataclass
class Platform:
    gateway_url: str
    ideas_url: str
    ideas_db_url: str
    ideas_engine: AsyncEngine
    kafka_bootstrap_servers: str
    kafka_topic_prefix: str
    client: httpx.AsyncClient
    issuer_url: str
    issuer_key_file: Path

    async def token(self, sub: str, roles: list[str], name: str | None = None) -> dict[str, str]:
        """A bearer token from the gateway's dev issuer, as a frontend would get one."""
        response = await self.client.post(
            "/auth/dev/token", json={"sub": sub, "roles": roles, "name": name or sub}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] > 0
        return {"Authorization": f"Bearer {body['access_token']}"}

    def topic(self, logical: str) -> str:
        """The physical name of a logical topic in this session's namespace (for probes)."""
        return physical_topic(self.kafka_topic_prefix, logical)

    async def ideas_scalar(self, sql: str, **params: Any) -> Any:
        async with self.ideas_engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()


GATEWAY = AppUnderTest("gateway", create_gateway_app, GatewaySettings, GATEWAY_ALEMBIC)


def gateway_dev_issuer(key_file: Path) -> Identity:
    """Every app trusts the gateway's dev issuer, whose signing key is kept in ``key_file``
    (each module's platform gets its own gateway and key)."""

    def identity(app: str, gateway_url: str) -> dict[str, Any]:
        values = {"KOMMUNE_OIDC_ISSUER": f"{gateway_url}/auth/dev"}
        if app == "gateway":
            values["KOMMUNE_DEV_ISSUER_KEY_FILE"] = str(key_file)
        return values

    return identity


def platform_settings(kafka_bootstrap_servers: str, kafka_topic_prefix: str) -> dict[str, Any]:
    """What every app of an e2e platform gets: test mode, the broker, the session's topics."""
    return {
        "KOMMUNE_ENVIRONMENT": "test",
        "KOMMUNE_LOG_LEVEL": "WARNING",
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        # The session's topic namespace: the services use <prefix>ideas.idea.v1 and so on.
        "KOMMUNE_KAFKA_TOPIC_PREFIX": kafka_topic_prefix,
    }


IDEAS = AppUnderTest("ideas", create_ideas_app, IdeasSettings, IDEAS_ALEMBIC)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
    tmp_path_factory: Any,
) -> AsyncIterator[Platform]:
    key_file = tmp_path_factory.mktemp("e2e-issuer") / "jwk.json"
    async with running_platform(
        create_database,
        gateway=GATEWAY,
        services=[IDEAS],
        common=platform_settings(kafka_bootstrap_servers, kafka_topic_prefix),
        identity=gateway_dev_issuer(key_file),
        # The fuzzer sends hundreds of requests a minute per role; the limits themselves are
        # tested in gateway/tests/test_rate_limits.py.
        gateway_settings={"rate_limit_requests": 100_000, "rate_limit_anonymous_requests": 100_000},
        undeployed=("documents", "egov", "sensors"),
        label="e2e",
    ) as running:
        engine = create_engine(running.database_urls["ideas"], pool_size=2, application_name="e2e")
        try:
            async with httpx.AsyncClient(base_url=running.gateway_url, timeout=30) as client:
                yield Platform(
                    gateway_url=running.gateway_url,
                    ideas_url=running.urls["ideas"],
                    ideas_db_url=running.database_urls["ideas"],
                    ideas_engine=engine,
                    kafka_bootstrap_servers=kafka_bootstrap_servers,
                    kafka_topic_prefix=running.topic_prefix,
                    client=client,
                    issuer_url=f"{running.gateway_url}/auth/dev",
                    issuer_key_file=key_file,
                )
        finally:
            await engine.dispose()
