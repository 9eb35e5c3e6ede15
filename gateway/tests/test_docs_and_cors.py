"""ReDoc next to Swagger UI, and CORS: closed unless origins are configured, then exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TokenFactory
from kommune.testing.docs import assert_docs_page_is_self_contained
from kommune.testing.servers import RunningServer
from kommune_gateway.main import create_gateway_app

PORTAL = "https://portal.heidenheim.example"


async def test_redoc_is_served_with_the_gateways_own_assets(client: httpx.AsyncClient) -> None:
    assets = await assert_docs_page_is_self_contained(client, "/redoc")
    assert any("redoc" in asset for asset in assets)
    assert "/openapi.json" in (await client.get("/redoc")).text


async def test_cors_is_closed_by_default(client: httpx.AsyncClient, token: TokenFactory) -> None:
    preflight = await client.options(
        "/api/v1/ideas/echo",
        headers={"Origin": PORTAL, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = await client.get(
        "/api/v1/ideas/echo", headers={"Origin": PORTAL, "Authorization": token()}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def cors_gateway(
    ideas_upstream: RunningServer,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings_factory(
        upstream_ideas=ideas_upstream.url, cors_allow_origins=[PORTAL]
    )
    app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
    async with RunningServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def test_a_configured_origin_may_call_and_read_the_gateways_headers(
    cors_gateway: httpx.AsyncClient, token: TokenFactory
) -> None:
    preflight = await cors_gateway.options(
        "/api/v1/ideas/items",
        headers={
            "Origin": PORTAL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200  # answered before any token check
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "idempotency-key" in allowed
    assert "authorization" in allowed
    response = await cors_gateway.get(
        "/api/v1/ideas/echo", headers={"Origin": PORTAL, "Authorization": token()}
    )
    assert response.headers["access-control-allow-origin"] == PORTAL
    exposed = response.headers["access-control-expose-headers"].lower()
    assert {"x-request-id", "ratelimit-remaining", "retry-after"} <= set(exposed.split(", "))


async def test_other_origins_get_no_cors_grant(cors_gateway: httpx.AsyncClient) -> None:
    preflight = await cors_gateway.options(
        "/api/v1/ideas/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "origin", ["*", "https://*.example.de", "portal.example.de", "https://portal.example.de/app"]
)
def test_only_exact_origins_are_accepted(gateway_settings_factory: Any, origin: str) -> None:
    with pytest.raises(ValueError, match="not an exact origin"):
        gateway_settings_factory(cors_allow_origins=[origin])
