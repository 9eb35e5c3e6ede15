"""Fail closed: what a service does when authentication settings are missing, and per-service
audiences and access-token checks through a whole app (real PostgreSQL, in-process issuer)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import ValidationError

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.auth.principal import CurrentPrincipal
from kommune.settings import Environment, ServiceSettings, service_audience
from kommune.testing.auth import TEST_ISSUER_URL, issuer_settings_overrides, lifespan_client

router = APIRouter(prefix="/api/v1/things")


@router.get("/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    return {"sub": principal.sub}


AUTH_VARIABLES = (
    "KOMMUNE_ENVIRONMENT",
    "KOMMUNE_OIDC_ISSUER",
    "KOMMUNE_OIDC_AUDIENCE",
    "KOMMUNE_OIDC_AUTHORIZED_PARTIES",
    "THINGS_OIDC_AUDIENCE",
)


class ThingsSettings(ServiceSettings):
    model_config = {**ServiceSettings.model_config, "env_prefix": "THINGS_"}

    service_name: str = "ideas"  # an audience the test issuer's tokens carry


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
async def database_url(create_database: Any) -> str:
    url: str = await create_database("auth_fail_closed")
    return url


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


# -- settings ------------------------------------------------------------------------------------


def test_unset_environment_is_production_without_issuer(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ThingsSettings()
    assert settings.environment == Environment.PRODUCTION
    assert not settings.is_dev_or_test
    assert settings.oidc_issuer is None
    assert settings.oidc_audience == "kommune-ideas"
    assert settings.oidc_authorized_parties == frozenset()


def test_audience_is_per_service_and_platform_values_are_shared(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("KOMMUNE_OIDC_ISSUER", "https://login.city.example/realms/kommune/")
    clean_environment.setenv("KOMMUNE_OIDC_AUDIENCE", "kommune")  # the old shared one: ignored
    clean_environment.setenv("KOMMUNE_OIDC_AUTHORIZED_PARTIES", "kommune-web, kommune-app")
    assert ThingsSettings().oidc_audience == "kommune-ideas"
    clean_environment.setenv("THINGS_OIDC_AUDIENCE", "things-api")
    settings = ThingsSettings()
    assert settings.oidc_audience == "things-api"
    assert settings.oidc_issuer == "https://login.city.example/realms/kommune"
    assert settings.oidc_authorized_parties == {"kommune-web", "kommune-app"}
    assert service_audience("gateway") == "kommune-gateway"


@pytest.mark.parametrize("issuer", ["login.city.example", "ftp://x/realm", "https://x/r?a=1"])
def test_an_issuer_that_is_no_http_url_is_refused(
    clean_environment: pytest.MonkeyPatch, issuer: str
) -> None:
    clean_environment.setenv("KOMMUNE_OIDC_ISSUER", issuer)
    with pytest.raises(ValidationError, match="KOMMUNE_OIDC_ISSUER"):
        ThingsSettings()


def test_an_empty_issuer_variable_means_no_issuer(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("KOMMUNE_OIDC_ISSUER", "  ")
    assert ThingsSettings().oidc_issuer is None


# -- a whole service -----------------------------------------------------------------------------


async def test_service_without_issuer_accepts_no_token_and_is_not_ready(
    clean_environment: pytest.MonkeyPatch,
    database_url: str,
    kafka_bootstrap_servers: str,
    dev_issuer: DevIssuer,
    issuer_transport: httpx.ASGITransport,
) -> None:
    # Production with everything but the issuer (the cursor key is required there too).
    clean_environment.setenv("KOMMUNE_CURSOR_SECRET", "c" * 32)
    settings = ThingsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        relay_enabled=False,
        consumers_enabled=False,
    )
    app = create_service_app(
        settings, title="Closed", routers=[router], http_transport=issuer_transport
    )
    async with lifespan_client(app) as client:
        valid_elsewhere = dev_issuer.issue("u1", ["admin"])
        with_token = await client.get(
            "/api/v1/things/whoami", headers={"Authorization": f"Bearer {valid_elsewhere}"}
        )
        without_token = await client.get("/api/v1/things/whoami")
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
        dev_token = await client.post("/auth/dev/token", json={"sub": "u1", "roles": ["admin"]})
    body = _assert_problem(with_token, 401)
    assert "KOMMUNE_OIDC_ISSUER" in body["detail"]
    assert with_token.headers["www-authenticate"] == "Bearer"
    _assert_problem(without_token, 401)
    readiness = _assert_problem(ready, 503)
    assert readiness["failing"] == ["oidc"]
    assert "KOMMUNE_OIDC_ISSUER" in readiness["checks"]["oidc"]["error"]
    assert alive.status_code == 200  # not restarted in a loop: just kept out of traffic
    _assert_problem(dev_token, 404)  # a service never mounts the dev issuer


async def test_service_refuses_tokens_for_other_audiences_and_id_tokens(
    clean_environment: pytest.MonkeyPatch,
    database_url: str,
    kafka_bootstrap_servers: str,
    dev_issuer: DevIssuer,
    issuer_transport: httpx.ASGITransport,
) -> None:
    settings = ThingsSettings.model_validate(
        {
            **issuer_settings_overrides(),
            "database_url": database_url,
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "relay_enabled": False,
            "consumers_enabled": False,
        }
    )
    assert settings.oidc_issuer == TEST_ISSUER_URL
    app = create_service_app(
        settings, title="Open", routers=[router], http_transport=issuer_transport
    )
    tokens = {
        "gateway_only": dev_issuer.issue(
            "u1", ["admin"], extra_claims={"aud": service_audience("gateway")}
        ),
        "other_service": dev_issuer.issue(
            "u1", ["admin"], extra_claims={"aud": ["kommune-gateway", "kommune-documents"]}
        ),
        "id_token": dev_issuer.issue(
            "u1", ["admin"], extra_claims={"typ": "ID", "aud": "kommune-ideas"}
        ),
        "valid": dev_issuer.issue("u1", ["admin"]),
    }
    async with lifespan_client(app) as client:
        responses = {
            name: await client.get(
                "/api/v1/things/whoami", headers={"Authorization": f"Bearer {token}"}
            )
            for name, token in tokens.items()
        }
        ready = await client.get("/readyz")
    for name in ("gateway_only", "other_service"):
        body = _assert_problem(responses[name], 401)
        assert "not meant for this audience (kommune-ideas)" in body["detail"], name
    assert "ID token" in _assert_problem(responses["id_token"], 401)["detail"]
    assert responses["valid"].status_code == 200
    assert responses["valid"].json() == {"sub": "u1"}
    assert ready.status_code == 200, ready.text
    oidc = ready.json()["checks"]["oidc"]
    assert oidc["status"] == "ok"
    assert oidc["audience"] == "kommune-ideas"
    assert oidc["required"] is False
