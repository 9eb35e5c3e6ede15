"""Fail closed at the edge: no dev issuer unless dev/test is set explicitly, no token without an
issuer, and the gateway's own audience next to each service's (tokens pass both, or neither)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kommune.auth.dev_issuer import DevIssuer
from kommune.settings import Environment
from kommune.testing.auth import TEST_ISSUER_URL, lifespan_client
from kommune_gateway.main import create_gateway_app
from kommune_gateway.settings import GatewaySettings

AUTH_VARIABLES = (
    "KOMMUNE_ENVIRONMENT",
    "KOMMUNE_OIDC_ISSUER",
    "KOMMUNE_OIDC_AUDIENCE",
    "GATEWAY_OIDC_AUDIENCE",
    "KOMMUNE_OIDC_AUTHORIZED_PARTIES",
)
NOT_DEPLOYED = {
    "upstream_ideas": "",
    "upstream_documents": "",
    "upstream_egov": "",
    "upstream_sensors": "",
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KOMMUNE_DEV_ISSUER_KEY_FILE", str(tmp_path / "jwk.json"))
    return monkeypatch


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


async def test_unset_environment_has_no_dev_issuer_and_accepts_no_token(
    clean_environment: pytest.MonkeyPatch, dev_issuer: DevIssuer
) -> None:
    clean_environment.setenv("KOMMUNE_CURSOR_SECRET", "s" * 32)  # else production fails at once
    settings = GatewaySettings.model_validate(NOT_DEPLOYED)
    assert settings.environment == Environment.PRODUCTION
    assert settings.oidc_issuer is None
    assert settings.oidc_audience == "kommune-gateway"
    app = create_gateway_app(settings)
    async with lifespan_client(app) as client:
        token = await client.post("/auth/dev/token", json={"sub": "u1", "roles": ["admin"]})
        discovery = await client.get("/auth/dev/.well-known/openid-configuration")
        jwks = await client.get("/auth/dev/jwks.json")
        routed = await client.get(
            "/api/v1/ideas", headers={"Authorization": f"Bearer {dev_issuer.issue('u1', [])}"}
        )
        ready = await client.get("/readyz")
        document = (await client.get("/openapi.json")).json()
    for response in (token, discovery, jwks):
        _problem(response, 404)
    assert "KOMMUNE_OIDC_ISSUER" in _problem(routed, 401)["detail"]
    assert _problem(ready, 503)["failing"] == ["oidc"]
    assert not [path for path in document["paths"] if path.startswith("/auth/dev")]


@pytest.mark.parametrize(
    "values",
    [
        {"KOMMUNE_ENVIRONMENT": "dev"},  # dev, but no issuer configured
        {"KOMMUNE_ENVIRONMENT": "dev", "KOMMUNE_OIDC_ISSUER": "https://login.example/realms/k"},
        {
            "KOMMUNE_ENVIRONMENT": "production",
            "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
            "KOMMUNE_CURSOR_SECRET": "s" * 32,  # production requires it (activity cursors)
        },
    ],
)
async def test_dev_issuer_needs_dev_or_test_and_an_issuer_naming_it(
    clean_environment: pytest.MonkeyPatch, values: dict[str, str]
) -> None:
    for name, value in values.items():
        clean_environment.setenv(name, value)
    app = create_gateway_app(GatewaySettings.model_validate(NOT_DEPLOYED))
    async with lifespan_client(app) as client:
        response = await client.post("/auth/dev/token", json={"sub": "u1", "roles": ["admin"]})
    _problem(response, 404)


async def test_dev_tokens_list_the_gateway_and_every_upstream_audience(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("KOMMUNE_ENVIRONMENT", "dev")
    clean_environment.setenv("KOMMUNE_OIDC_ISSUER", TEST_ISSUER_URL)
    app = create_gateway_app(GatewaySettings.model_validate(NOT_DEPLOYED))
    async with lifespan_client(app) as client:
        response = await client.post("/auth/dev/token", json={"sub": "u1", "roles": ["staff"]})
    assert response.status_code == 200, response.text
    claims = _claims(response.json()["access_token"])
    assert claims["aud"] == [
        "kommune-gateway",
        "kommune-ideas",
        "kommune-documents",
        "kommune-egov",
        "kommune-sensors",
    ]
    assert claims["typ"] == "Bearer"
    assert claims["iss"] == TEST_ISSUER_URL


async def test_gateway_and_service_each_check_their_own_audience(
    client: httpx.AsyncClient, dev_issuer: DevIssuer, signals: Any
) -> None:
    # Passes the gateway (kommune-gateway) but not the ideas service (kommune-ideas): the
    # service verifies the forwarded token again and refuses it.
    gateway_only = dev_issuer.issue("u1", ["admin"], extra_claims={"aud": "kommune-gateway"})
    response = await client.get(
        "/api/v1/ideas/whoami", headers={"Authorization": f"Bearer {gateway_only}"}
    )
    assert "kommune-ideas" in _problem(response, 401)["detail"]
    assert signals.requests_seen == []  # the handler never ran

    # For the service only: the gateway refuses it before proxying.
    service_only = dev_issuer.issue("u1", ["admin"], extra_claims={"aud": "kommune-ideas"})
    response = await client.get(
        "/api/v1/ideas/whoami", headers={"Authorization": f"Bearer {service_only}"}
    )
    assert "kommune-gateway" in _problem(response, 401)["detail"]

    # An ID token with every audience: refused at the edge.
    id_token = dev_issuer.issue("u1", ["admin"], extra_claims={"typ": "ID"})
    response = await client.get(
        "/api/v1/ideas/whoami", headers={"Authorization": f"Bearer {id_token}"}
    )
    assert "ID token" in _problem(response, 401)["detail"]

    both = dev_issuer.issue("u1", ["admin"])
    response = await client.get("/api/v1/ideas/whoami", headers={"Authorization": f"Bearer {both}"})
    assert response.status_code == 200, response.text
