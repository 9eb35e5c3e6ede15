"""A throwaway service built with ``create_service_app``, against real PostgreSQL and Kafka.

It is what every Kommune service looks like from outside: tokens verified via OIDC discovery
(against the in-process dev issuer), roles enforced, problems for every error, probes and
metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from prometheus_client import REGISTRY, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.auth.principal import Principal, Role, require_roles
from kommune.db import DbSession
from kommune.settings import ServiceSettings
from kommune.testing.auth import (
    TEST_APP_AUDIENCE,
    TEST_ISSUER_URL,
    HeadersFactory,
    TokenFactory,
    issuer_settings_overrides,
    lifespan_client,
)
from kommune.testing.docs import assert_docs_page_is_self_contained

router = APIRouter(prefix="/api/v1/things", tags=["things"])
Caseworker = Annotated[Principal, Depends(require_roles(Role.CASEWORKER))]


class ThingIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)


@router.get("")
async def list_things(principal: Caseworker, session: DbSession) -> dict[str, Any]:
    answer = (await session.execute(text("SELECT 42"))).scalar_one()
    return {"sub": principal.sub, "roles": sorted(principal.roles), "answer": answer}


@router.post("", status_code=201)
async def create_thing(body: ThingIn, principal: Caseworker) -> dict[str, str]:
    return {"title": body.title, "by": principal.sub}


def service_settings(database_url: str, kafka: str, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "service_name": "throwaway",
        "oidc_audience": TEST_APP_AUDIENCE,
        "KOMMUNE_ENVIRONMENT": "test",
        "KOMMUNE_LOG_JSON": True,
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "max_body_bytes": 4096,
        "relay_enabled": False,
        "consumers_enabled": False,
        **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
        **overrides,
    }
    return ServiceSettings.model_validate(values)


@pytest.fixture(scope="module")
async def database_url(create_database: Any) -> str:
    url: str = await create_database("app_test")
    return url


@pytest.fixture
async def client(
    database_url: str, kafka_bootstrap_servers: str, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        service_settings(database_url, kafka_bootstrap_servers),
        title="Throwaway",
        routers=[router],
        http_transport=issuer_transport,
    )
    async with lifespan_client(app) as c:
        yield c


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    return body


async def test_right_role_gets_200(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get(
        "/api/v1/things", headers={"Authorization": token("cw-1", ["caseworker"])}
    )
    assert response.status_code == 200
    assert response.json() == {"sub": "cw-1", "roles": ["caseworker"], "answer": 42}


async def test_admin_is_always_allowed(
    client: httpx.AsyncClient, auth_headers: HeadersFactory
) -> None:
    response = await client.get("/api/v1/things", headers=auth_headers("boss", ["admin"]))
    assert response.status_code == 200


async def test_no_token_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/things")
    body = assert_problem(response, 401)
    assert body["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_non_bearer_scheme_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/things", headers={"Authorization": "Basic dTpw"})
    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "unknown key"),
        ("expired", "expired"),
        ("wrong_issuer", "issuer"),
        ("wrong_audience", "audience"),
        ("bad_signature", "signature"),
        ("garbage", "malformed"),
    ],
)
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, dev_issuer: DevIssuer, case: str, reason: str
) -> None:
    tokens: dict[str, Callable[[], str]] = {
        "forged": lambda: DevIssuer.generate(TEST_ISSUER_URL).issue("u1", ["caseworker"]),
        "expired": lambda: dev_issuer.issue("u1", ["caseworker"], expires_in=-300),
        "wrong_issuer": lambda: dev_issuer.issue(
            "u1", ["caseworker"], extra_claims={"iss": "http://other.test/auth/dev"}
        ),
        "wrong_audience": lambda: dev_issuer.issue(
            "u1", ["caseworker"], extra_claims={"aud": "another-app"}
        ),
        "bad_signature": lambda: "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln",
        "garbage": lambda: "definitely-not-a-jwt",
    }
    response = await client.get(
        "/api/v1/things", headers={"Authorization": f"Bearer {tokens[case]()}"}
    )
    body = assert_problem(response, 401)
    assert reason in body["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_wrong_role_is_403(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.get(
        "/api/v1/things", headers={"Authorization": token("c1", ["citizen"])}
    )
    body = assert_problem(response, 403)
    assert "caseworker" in body["detail"]


async def test_valid_body_is_accepted(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.post(
        "/api/v1/things",
        json={"title": "Bank am Brenzufer"},
        headers={"Authorization": token("cw", ["caseworker"])},
    )
    assert response.status_code == 201
    assert response.json() == {"title": "Bank am Brenzufer", "by": "cw"}


async def test_malformed_json_is_422_problem(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await client.post(
        "/api/v1/things",
        content=b'{"title": "unterminated',
        headers={"Authorization": token("cw", ["caseworker"]), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert body["code"] == "validation_failed"


async def test_invalid_field_is_422_problem_naming_it(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await client.post(
        "/api/v1/things",
        json={"title": ""},
        headers={"Authorization": token("cw", ["caseworker"])},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "title"]


async def test_too_large_body_is_413(client: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await client.post(
        "/api/v1/things",
        json={"title": "x" * 10_000},
        headers={"Authorization": token("cw", ["caseworker"])},
    )
    body = assert_problem(response, 413)
    assert body["code"] == "payload_too_large"


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/api/v1/things"), 405)


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_with_real_postgres_and_kafka(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["kafka"]["status"] == "ok"
    assert body["checks"]["kafka"]["brokers"] >= 1


async def test_readyz_is_503_naming_the_database_when_it_is_unreachable(
    kafka_bootstrap_servers: str, issuer_transport: httpx.ASGITransport
) -> None:
    settings = service_settings(
        "postgresql+asyncpg://kommune:kommune@127.0.0.1:1/nowhere", kafka_bootstrap_servers
    )
    app = create_service_app(settings, title="Down", http_transport=issuer_transport)
    async with lifespan_client(app) as c:
        response = await c.get("/readyz")
        assert (await c.get("/healthz")).status_code == 200  # liveness does not care
    body = assert_problem(response, 503)
    assert body["code"] == "not_ready"
    assert body["failing"] == ["database"]
    assert "database" in body["detail"]
    assert body["checks"]["kafka"]["status"] == "ok"


async def test_kafka_down_degrades_but_does_not_fail_readiness(
    database_url: str, issuer_transport: httpx.ASGITransport
) -> None:
    app = create_service_app(
        service_settings(database_url, "127.0.0.1:1"),
        title="NoKafka",
        http_transport=issuer_transport,
    )
    async with lifespan_client(app) as c:
        response = await c.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["kafka"]["status"] == "fail"
    assert body["checks"]["kafka"]["required"] is False


async def test_kafka_required_fails_readiness(
    database_url: str, issuer_transport: httpx.ASGITransport
) -> None:
    app = create_service_app(
        service_settings(database_url, "127.0.0.1:1"),
        title="NeedsKafka",
        http_transport=issuer_transport,
        kafka_required_for_readiness=True,
    )
    async with lifespan_client(app) as c:
        body = assert_problem(await c.get("/readyz"), 503)
    assert body["failing"] == ["kafka"]


async def test_issuer_unreachable_is_503_not_401(
    database_url: str, kafka_bootstrap_servers: str, dev_issuer: DevIssuer
) -> None:
    settings = service_settings(
        database_url, kafka_bootstrap_servers, KOMMUNE_OIDC_ISSUER="http://127.0.0.1:1/auth/dev"
    )
    app = create_service_app(settings, title="NoIssuer", routers=[router])
    async with lifespan_client(app) as c:
        response = await c.get(
            "/api/v1/things",
            headers={"Authorization": "Bearer " + dev_issuer.issue("u1", ["caseworker"])},
        )
    assert_problem(response, 503)


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "req-4711"})
    assert response.headers["x-request-id"] == "req-4711"
    assert response.headers["traceparent"].startswith("00-")
    unauthenticated = await client.get("/api/v1/things", headers={"X-Request-ID": "req-4712"})
    assert unauthenticated.headers["x-request-id"] == "req-4712"


async def test_metrics_expose_the_counters(client: httpx.AsyncClient, token: TokenFactory) -> None:
    await client.get("/api/v1/things", headers={"Authorization": token("m", ["caseworker"])})
    await client.get("/api/v1/things")
    # Never on the public listener; kommune.serve serves the registry on its own port.
    assert (await client.get("/metrics")).status_code == 404
    text_ = generate_latest(REGISTRY).decode()
    assert (
        'kommune_http_requests_total{method="GET",route="/api/v1/things",'
        'service="throwaway",status="200"}'
    ) in text_
    assert 'route="/api/v1/things",service="throwaway",status="401"' in text_
    assert "kommune_http_request_duration_seconds_bucket" in text_


async def test_openapi_documents_the_service_but_not_the_probes(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/api/v1/things" in paths
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)


async def test_docs_and_redoc_load_their_assets_from_the_service_itself(
    client: httpx.AsyncClient,
) -> None:
    swagger = await assert_docs_page_is_self_contained(client, "/docs")
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"} <= set(swagger)
    docs = (await client.get("/docs")).text
    assert "'/openapi.json'" in docs or '"/openapi.json"' in docs
    redoc = await assert_docs_page_is_self_contained(client, "/redoc")
    assert "/docs/static/redoc.standalone.js" in redoc
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "http://" not in redirect.text
    assert "https://" not in redirect.text


async def test_docs_pages_and_assets_stay_out_of_the_openapi_document(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
