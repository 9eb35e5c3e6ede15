"""The gateway, running under uvicorn in front of real upstream servers (see conftest.py)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TEST_ISSUER_URL, TokenFactory, lifespan_client
from kommune.testing.docs import assert_docs_page_is_self_contained
from kommune_gateway.main import create_gateway_app
from kommune_gateway.routes import match_route

MiB = 1024 * 1024

BEARER = "bearerAuth"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


# -- authentication at the edge -------------------------------------------------------------------


async def test_no_token_is_401_at_the_gateway(client: httpx.AsyncClient, signals: Any) -> None:
    response = await client.get("/api/v1/ideas/echo")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert signals.requests_seen == []  # the upstream never saw it


async def test_invalid_tokens_are_401_at_the_gateway(
    client: httpx.AsyncClient, dev_issuer: DevIssuer, signals: Any
) -> None:
    forged = DevIssuer.generate(TEST_ISSUER_URL).issue("u1", ["admin"])
    expired = dev_issuer.issue("u1", ["admin"], expires_in=-600)
    for token in (forged, expired, "nonsense"):
        response = await client.get(
            "/api/v1/ideas/echo", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401)
    assert signals.requests_seen == []


async def test_authorization_is_forwarded_and_verified_again_upstream(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await client.get(
        "/api/v1/ideas/whoami", headers={"Authorization": token("erika", ["change_agent"])}
    )
    assert response.status_code == 200
    assert response.json() == {"sub": "erika", "roles": ["change_agent"]}


async def test_public_route_needs_no_token_but_writes_do(client: httpx.AsyncClient) -> None:
    response = await client.get("/open311/services")
    assert response.status_code == 200
    assert response.json() == [{"service_code": "001", "description": "Schlagloch"}]
    denied = await client.post(
        "/open311/requests", json={"service_code": "001", "description": "x"}
    )
    assert_problem(denied, 401)


# -- forwarding ----------------------------------------------------------------------------------


async def test_request_id_trace_and_query_reach_the_upstream(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = await client.get(
        "/api/v1/ideas/echo?q=Stra%C3%9Fe&limit=5",
        headers={
            "Authorization": token(),
            "X-Request-ID": "gw-test-1",
            "traceparent": parent,
            "X-Custom": "kept",
        },
    )
    assert response.status_code == 200
    seen = response.json()
    headers = seen["headers"]
    assert seen["query"] == "q=Stra%C3%9Fe&limit=5"
    assert headers["authorization"].startswith("Bearer ")
    assert headers["x-request-id"] == "gw-test-1"
    assert headers["x-custom"] == "kept"
    # Same trace, the gateway's own span as parent.
    assert headers["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert headers["traceparent"] != parent
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert response.headers["x-request-id"] == "gw-test-1"
    assert response.headers["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.headers.get_list("server") == ["uvicorn"]  # not duplicated


async def test_upstream_cookies_reach_the_caller_but_never_other_callers(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    first = await client.get("/api/v1/ideas/cookie", headers={"Authorization": token()})
    assert len(first.headers.get_list("set-cookie")) == 2
    async with httpx.AsyncClient(base_url=str(client.base_url)) as stranger:
        response = await stranger.get("/api/v1/ideas/echo", headers={"Authorization": token()})
    assert "cookie" not in response.json()["headers"]


async def test_upstream_problems_pass_through(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await client.post(
        "/api/v1/ideas/items", json={"title": 5}, headers={"Authorization": token()}
    )
    assert_problem(response, 422, "validation_failed")


async def test_dot_segments_are_refused(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get(
        "/open311/%2e%2e/api/v1/ideas/echo", headers={"Authorization": token()}
    )
    assert response.status_code in (400, 404)


# -- streaming ---------------------------------------------------------------------------------


async def test_large_upload_streams_through(
    client: httpx.AsyncClient, token: TokenFactory, signals: Any
) -> None:
    payload = os.urandom(5 * MiB)
    chunk = 256 * 1024

    async def body() -> AsyncIterator[bytes]:
        yield payload[:chunk]
        # The rest is sent only after the upstream has *received* the first chunk: a gateway
        # that buffers the request body would wait here forever.
        await asyncio.wait_for(signals.upload_started.wait(), 10)
        for offset in range(chunk, len(payload), chunk):
            yield payload[offset : offset + chunk]

    response = await client.post(
        "/api/v1/ideas/upload",
        content=body(),
        headers={"Authorization": token(), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["size"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


async def test_upload_with_content_length_streams_through(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    payload = os.urandom(5 * MiB)
    response = await client.post(
        "/api/v1/ideas/upload", content=payload, headers={"Authorization": token()}
    )
    assert response.status_code == 200
    assert response.json()["size"] == len(payload)
    assert response.json()["chunks"] > 1


async def test_upload_over_the_gateway_limit_is_413(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    declared = await client.post(
        "/api/v1/ideas/upload", content=b"x" * (9 * MiB), headers={"Authorization": token()}
    )
    assert_problem(declared, 413, "payload_too_large")

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"y" * (256 * 1024)

    chunked = await client.post(
        "/api/v1/ideas/upload", content=endless(), headers={"Authorization": token()}
    )
    assert_problem(chunked, 413, "payload_too_large")


async def test_download_streams_through(
    client: httpx.AsyncClient, token: TokenFactory, signals: Any
) -> None:
    size = 3 * MiB
    received = bytearray()
    async with client.stream(
        "GET",
        f"/api/v1/ideas/download?size={size}&wait=true",
        headers={"Authorization": token()},
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            received.extend(chunk)
            # The upstream sends its second chunk only after this point: proof that the
            # gateway relayed the first one before the upstream had finished.
            signals.download_first_chunk_seen.set()
    assert len(received) == size


# -- upstream failures -----------------------------------------------------------------------------


async def test_upstream_down_is_502(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get("/api/v1/documents/files", headers={"Authorization": token()})
    body = assert_problem(response, 502, "upstream_unavailable")
    assert "documents" in body["detail"]
    assert "x-request-id" in response.headers


async def test_upstream_not_deployed_is_503(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get("/api/v1/sensors/devices", headers={"Authorization": token()})
    assert_problem(response, 503, "upstream_not_deployed")


async def test_upstream_timeout_is_504(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get("/api/v1/ideas/slow?seconds=3", headers={"Authorization": token()})
    assert_problem(response, 504, "upstream_timeout")


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v2/whatever"), 404)


# -- OpenAPI -------------------------------------------------------------------------------------


GATEWAY_OWN = ("/auth/", "/api/v1/dashboard", "/api/v1/me", "/api/v1/activity")
"""Paths the gateway answers itself (dev issuer, aggregation, activity feed)."""


def route_of(path: str) -> str:
    route = match_route(path)
    assert route is not None, path
    return route.upstream


async def test_merged_openapi_contains_every_reachable_upstream(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    paths = doc["paths"]
    assert "/api/v1/ideas/whoami" in paths
    assert "/api/v1/ideas/items" in paths
    assert "/open311/services" in paths
    assert "/api/v1/egov/applications" in paths
    assert "/internal/not-routed" not in paths  # not routed to egov by the gateway
    assert "/healthz" not in paths
    assert "/auth/dev/token" in paths  # the gateway's own (test environment)
    assert doc["x-upstreams"] == {
        "ideas": "ok",
        "documents": "unavailable",
        "egov": "ok",
        "sensors": "unavailable",
    }
    schemas = doc["components"]["schemas"]
    # "Item" means different things in ideas and egov: egov's was renamed, refs rewritten.
    assert set(schemas["Item"]["properties"]) == {"title", "votes"}
    assert set(schemas["Egov_Item"]["properties"]) == {"service_code", "description"}
    egov_body = paths["/open311/requests"]["post"]["requestBody"]["content"]["application/json"]
    assert egov_body["schema"]["$ref"] == "#/components/schemas/Egov_Item"
    # Identical definitions are shared, not duplicated.
    assert "HTTPValidationError" in schemas
    assert "Egov_HTTPValidationError" not in schemas
    # One top-level tag per service that answered; every operation carries exactly its own.
    assert [tag["name"] for tag in doc["tags"]] == ["gateway", "ideas", "egov"]
    for path, item in paths.items():
        for method, operation in item.items():
            owner = "gateway" if path.startswith(GATEWAY_OWN) else route_of(path)
            assert operation["tags"] == [owner], (method, path)
    assert paths["/open311/services"]["get"]["x-service-tags"] == ["open311"]
    # The gateway's own endpoints document their problems like every service.
    for own in ("/api/v1/dashboard", "/api/v1/me", "/api/v1/activity", "/api/v1/activity/stream"):
        responses = paths[own]["get"]["responses"]
        assert {"200", "401", "403", "429"} <= set(responses), own
        assert "application/problem+json" in responses["403"]["content"], own
    assert (
        "text/event-stream"
        in paths["/api/v1/activity/stream"]["get"]["responses"]["200"]["content"]
    )
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {} in paths["/open311/services"]["get"]["security"]
    # Protected operations keep the services' own declaration of the same scheme.
    assert paths["/api/v1/ideas/whoami"]["get"].get("security", [{BEARER: []}]) == [{BEARER: []}]


def test_production_needs_the_cursor_key(gateway_settings_factory: Any) -> None:
    """The activity feed signs its cursors: without the key, production does not start."""
    with pytest.raises(ValueError, match="KOMMUNE_CURSOR_SECRET"):
        create_gateway_app(gateway_settings_factory(KOMMUNE_ENVIRONMENT="production"))


async def test_swagger_ui_is_served_with_the_gateways_own_assets(
    client: httpx.AsyncClient,
) -> None:
    # No token: /docs and its assets are the gateway's own routes, not proxied ones.
    assets = await assert_docs_page_is_self_contained(client, "/docs")
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"} <= set(assets)
    assert not [a for a in assets if match_route(a) is not None]
    assert match_route("/docs") is None
    html = (await client.get("/docs")).text
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


# -- probes and metrics --------------------------------------------------------------------------


async def test_readyz_reports_upstreams_without_failing(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["upstream_ideas"]["status"] == "ok"
    assert body["checks"]["upstream_egov"]["status"] == "ok"
    assert body["checks"]["upstream_documents"]["status"] == "fail"
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_metrics_use_route_templates(client: httpx.AsyncClient, token: TokenFactory) -> None:
    await client.get("/api/v1/ideas/echo?x=1", headers={"Authorization": token()})
    assert (await client.get("/metrics")).status_code == 404  # only on the metrics listener
    text = generate_latest(REGISTRY).decode()
    gateway_lines = [line for line in text.splitlines() if 'service="gateway"' in line]
    assert any('route="/api/v1/ideas/{path}"' in line for line in gateway_lines)
    # Raw paths never become labels (the upstream, in this same process, has its own route).
    assert not any("/api/v1/ideas/echo" in line for line in gateway_lines)


# -- the dev issuer ----------------------------------------------------------------------------


async def test_dev_token_endpoint_issues_tokens_the_platform_accepts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/dev/token", json={"sub": "max", "roles": ["caseworker"], "name": "Max"}
    )
    assert response.status_code == 200
    issued = response.json()
    assert issued["token_type"] == "bearer"
    assert issued["expires_in"] > 0
    whoami = await client.get(
        "/api/v1/ideas/whoami", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert whoami.json() == {"sub": "max", "roles": ["caseworker"]}
    discovery = (await client.get("/auth/dev/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == TEST_ISSUER_URL
    jwks = (await client.get("/auth/dev/jwks.json")).json()
    assert "d" not in jwks["keys"][0]


@pytest.mark.parametrize(
    "body",
    [
        {"roles": ["staff"]},
        {"sub": "", "roles": ["staff"]},
        {"sub": "x" * 129, "roles": ["staff"]},
        {"sub": "u1", "roles": ["emperor"]},
        {"sub": "u1", "roles": ["staff"] * 9},
        {"sub": "u1", "roles": "staff"},
        {"sub": "u1", "role": ["staff"]},
    ],
)
async def test_bad_token_request_is_422_problem(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_problem(await client.post("/auth/dev/token", json=body), 422, "validation_failed")


async def test_dev_issuer_is_absent_in_production(gateway_settings_factory: Any) -> None:
    settings = gateway_settings_factory(
        KOMMUNE_ENVIRONMENT="production", KOMMUNE_CURSOR_SECRET="s" * 32
    )
    app = create_gateway_app(settings)
    async with lifespan_client(app) as c:
        token = await c.post("/auth/dev/token", json={"sub": "u1", "roles": ["admin"]})
        jwks = await c.get("/auth/dev/jwks.json")
        doc = (await c.get("/openapi.json")).json()
    assert_problem(token, 404)
    assert_problem(jwks, 404)
    assert "/auth/dev/token" not in doc["paths"]
