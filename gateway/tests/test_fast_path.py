"""Proxied requests skip FastAPI's own layers and router (kommune_gateway.fast_path); nothing
else changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TokenFactory, lifespan_client
from kommune.testing.servers import RunningServer
from kommune_gateway.fast_path import ProxyEdge
from kommune_gateway.main import create_gateway_app
from kommune_gateway.proxy_endpoint import ProxyEndpoint
from kommune_gateway.routes import Route

from .test_gateway import assert_problem


@pytest.fixture
def app(
    ideas_upstream: RunningServer,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
) -> FastAPI:
    # "/auth" is proxied, but the dev issuer at /auth/dev was registered before the proxy
    # routes: the router's first-match order gives it those paths, and so must the fast path.
    routes = (Route("/api/v1/ideas", "ideas"), Route("/auth", "ideas"))
    settings = gateway_settings_factory(upstream_ideas=ideas_upstream.url)
    return create_gateway_app(
        settings, routes=routes, http_transport=issuer_transport, dev_issuer=dev_issuer
    )


async def test_own_routes_registered_first_keep_their_paths_under_a_proxy_prefix(
    app: FastAPI, token: TokenFactory
) -> None:
    async with lifespan_client(app) as client:
        jwks = await client.get("/auth/dev/jwks.json")  # the gateway's own, no token needed
        proxied = await client.get("/auth/other")  # proxied: the token check comes first
        echoed = await client.get(
            "/api/v1/ideas/echo?x=1", headers={"Authorization": token(sub="fast")}
        )
    assert jwks.status_code == 200
    assert jwks.json()["keys"]
    assert_problem(proxied, 401, "unauthorized")
    assert proxied.headers["x-request-id"]
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["path"] == "/api/v1/ideas/echo"


async def test_a_method_the_proxy_does_not_serve_is_left_to_the_router(
    app: FastAPI, token: TokenFactory
) -> None:
    async with lifespan_client(app) as client:
        response = await client.request(
            "TRACE", "/api/v1/ideas/echo", headers={"Authorization": token()}
        )
    assert_problem(response, 405, "method_not_allowed")


async def test_fast_path_requests_are_logged_and_counted_by_route_template(
    app: FastAPI, token: TokenFactory
) -> None:
    labels = {"service": "gateway", "method": "GET", "route": "/auth/{path}", "status": "401"}
    before = REGISTRY.get_sample_value("kommune_http_requests_total", labels) or 0.0
    async with lifespan_client(app) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/auth/x/y", headers={"X-Request-ID": "fast-path-1"})
    assert response.status_code == 401
    assert REGISTRY.get_sample_value("kommune_http_requests_total", labels) == before + 1
    access = [e for e in logs if e.get("event") == "request" and e.get("path") == "/auth/x/y"]
    assert len(access) == 1
    assert access[0]["route"] == "/auth/{path}"
    assert access[0]["status"] == 401


class _Stamp:
    """Middleware an application adds: it must see proxied requests as well as its own routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-stamp", scope["path"].encode())]
            await send(message)

        await self.app(scope, receive, stamped)


async def test_proxied_requests_pass_the_applications_own_middleware_and_skip_fastapis_layers(
    app: FastAPI, token: TokenFactory
) -> None:
    app.add_middleware(_Stamp)
    async with lifespan_client(app) as client:
        proxied = await client.get("/api/v1/ideas/echo", headers={"Authorization": token()})
        refused = await client.get("/api/v1/ideas/echo")  # the endpoint's 401, as a problem
        own = await client.get("/auth/dev/jwks.json")
    assert proxied.status_code == 200
    assert proxied.headers["x-stamp"] == "/api/v1/ideas/echo"
    assert_problem(refused, 401, "unauthorized")
    assert refused.headers["x-stamp"] == "/api/v1/ideas/echo"
    assert refused.headers["x-request-id"]
    assert own.headers["x-stamp"] == "/auth/dev/jwks.json"
    # The proxied branch is the application's middleware around the endpoint, nothing else.
    edge = app.middleware_stack
    assert isinstance(edge, ProxyEdge)
    layers: list[object] = []
    layer: Any = edge.proxy
    while not isinstance(layer, ProxyEndpoint):
        layers.append(type(layer))
        layer = layer.app
    expected: list[object] = [m.cls for m in app.user_middleware]
    assert layers == expected
    # What the router keeps for the paths the fast path leaves to it calls the same endpoint as
    # plain ASGI (a FastAPI route would read scope/receive/send as query parameters).
    for route in edge.routes["/api/v1/ideas"]:
        assert isinstance(route, StarletteRoute)
        assert not isinstance(route, APIRoute)
        assert route.app is layer
