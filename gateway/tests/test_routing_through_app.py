"""Routing decided by the one table: through the gateway app, and against every service's API."""

from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TokenFactory, lifespan_client
from kommune.testing.servers import RunningServer
from kommune_gateway.main import create_gateway_app
from kommune_gateway.routes import ROUTES, Route, RoutingTable


async def test_the_longest_prefix_wins_whatever_the_declaration_order(
    ideas_upstream: RunningServer,
    egov_upstream: RunningServer,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
    token: TokenFactory,
) -> None:
    # The shorter prefix is declared first: a first-match router would send everything to egov.
    routes = (Route("/api/v1/ideas", "egov"), Route("/api/v1/ideas/echo", "ideas"))
    settings = gateway_settings_factory(
        upstream_ideas=ideas_upstream.url, upstream_egov=egov_upstream.url
    )
    app = create_gateway_app(
        settings, routes=routes, http_transport=issuer_transport, dev_issuer=dev_issuer
    )
    auth = {"Authorization": token()}
    async with lifespan_client(app) as client:
        longest = await client.get("/api/v1/ideas/echo", headers=auth)
        shorter = await client.get("/api/v1/ideas/whoami", headers=auth)
        sibling = await client.get("/api/v1/ideas/echoX", headers=auth)
        outside = await client.get("/api/v1/ideasX", headers=auth)

    # ideas (a Kommune service) answers the echo.
    assert longest.status_code == 200, longest.text
    assert longest.json()["path"] == "/api/v1/ideas/echo"
    # egov (a plain FastAPI app without these paths) answers its own plain 404.
    for response in (shorter, sibling):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": "Not Found"}
    # No prefix covers /api/v1/ideasX by whole segments: the gateway's own 404 problem.
    assert outside.status_code == 404
    assert outside.headers["content-type"] == "application/problem+json"


# -- the contract: every path of every service's OpenAPI routes to that service -----------------

SERVICES = RoutingTable(ROUTES).upstreams()


@pytest.fixture(autouse=True)
def _test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``main:app`` is built from the environment: a test one (production would need secrets)."""
    monkeypatch.setenv("KOMMUNE_ENVIRONMENT", "test")


def _service_app(name: str) -> FastAPI | None:
    """``kommune_<name>.main:app`` (the convention deploy/local/services.sh launches), if built."""
    module_name = f"kommune_{name}.main"
    if importlib.util.find_spec(f"kommune_{name}") is None:
        return None
    app = importlib.import_module(module_name).app
    assert isinstance(app, FastAPI), f"{module_name}:app is not a FastAPI app"
    return app


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def test_at_least_one_service_is_checked() -> None:
    assert any(_service_app(name) is not None for name in SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_every_path_of_a_service_routes_to_it(name: str) -> None:
    app = _service_app(name)
    if app is None:
        pytest.skip(f"kommune_{name} is not built yet")
    table = RoutingTable(ROUTES)
    paths = list(app.openapi()["paths"])
    assert paths, f"{name} documents no paths"
    wrong = {}
    for template in paths:
        for path in (template, _concrete(template)):
            route = table.match(path)
            if route is None or route.upstream != name:
                wrong[path] = route.upstream if route else None
    assert not wrong, f"paths of {name} the gateway sends elsewhere: {wrong}"
