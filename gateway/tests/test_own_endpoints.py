"""The gateway's own endpoints without any upstream: roles, partial answers, the request budget."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kommune.testing.auth import TokenFactory, lifespan_client
from kommune_gateway.main import create_gateway_app

PROBLEM_JSON = "application/problem+json"


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    return body


def _app(factory: Any, issuer_transport: httpx.ASGITransport, **values: Any) -> Any:
    return create_gateway_app(factory(**values), http_transport=issuer_transport)


async def test_nothing_deployed_still_answers_and_names_every_part(
    gateway_settings_factory: Any, issuer_transport: httpx.ASGITransport, token: TokenFactory
) -> None:
    app = _app(gateway_settings_factory, issuer_transport)
    staff = {"Authorization": token(f"cw-{uuid.uuid4().hex[:6]}", ["caseworker"], None, "bauhof")}
    citizen = {"Authorization": token(f"cit-{uuid.uuid4().hex[:6]}", ["citizen"])}
    async with lifespan_client(app) as client:
        board = await client.get("/api/v1/dashboard", headers=staff)
        mine = await client.get("/api/v1/me", headers=citizen)
        staff_me = await client.get("/api/v1/me", headers=staff)
        forbidden = await client.get("/api/v1/dashboard", headers=citizen)
        anonymous = await client.get("/api/v1/dashboard")
        forged = await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert board.status_code == 200, board.text
    assert board.headers["RateLimit-Policy"]  # counted like a proxied call
    body = board.json()
    assert body["complete"] is False
    assert all(body[part] is None for part in ("open_cases", "ideas", "waste", "alerts", "traffic"))
    assert {(m["part"], m["upstream"], m["reason"]) for m in body["missing"]} == {
        ("open_cases", "egov", "not_deployed"),
        ("ideas", "ideas", "not_deployed"),
        ("waste", "sensors", "not_deployed"),
        ("alerts", "sensors", "not_deployed"),
        ("traffic", "sensors", "not_deployed"),
    }
    assert mine.status_code == 200
    assert {m["part"] for m in mine.json()["missing"]} == {
        "applications",
        "mailbox",
        "appointments",
    }
    assert {m["part"] for m in staff_me.json()["missing"]} == {"ideas", "tasks"}
    assert _problem(forbidden, 403)["detail"] == "The dashboard is for city staff."
    _problem(anonymous, 401)
    _problem(forged, 401)


async def test_own_endpoints_count_against_the_callers_rate_limit(
    gateway_settings_factory: Any, issuer_transport: httpx.ASGITransport, token: TokenFactory
) -> None:
    app = _app(gateway_settings_factory, issuer_transport, rate_limit_requests=3)
    who = {"Authorization": token(f"st-{uuid.uuid4().hex[:6]}", ["staff"])}
    async with lifespan_client(app) as client:
        answers = [
            await client.get("/api/v1/dashboard", headers=who),
            await client.get("/api/v1/me", headers=who),
            await client.get("/api/v1/activity", headers=who),
            await client.get("/api/v1/dashboard", headers=who),
            await client.get("/api/v1/activity/stream", headers=who),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = _problem(answers[3], 429)
    assert refused["code"] == "rate_limited"
    assert int(answers[3].headers["Retry-After"]) >= 1
