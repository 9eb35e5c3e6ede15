"""Retries, timeouts, the circuit breaker and hop-by-hop headers, against real uvicorn servers.

The upstream here is a small FastAPI app that counts what it receives, so a test can prove what
the gateway sent (or did not send) to it; it is stopped and started again on the same port to
play a killed and a recovered service.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TokenFactory
from kommune.testing.servers import RunningServer, free_port
from kommune_gateway.main import create_gateway_app
from kommune_gateway.resilience import CircuitBreaker, State, UpstreamPolicy

from .test_gateway import assert_problem

SEEN: Counter[str] = Counter()


def flaky_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/api/v1/ideas/flaky/{key}", methods=["GET", "POST", "PUT"])
    async def flaky(key: str, request: Request, fail: int = 2, status: int = 503) -> Response:
        """Answers ``status`` to the first ``fail`` requests for ``key``, then 200."""
        SEEN[key] += 1
        if SEEN[key] <= fail:
            return Response(status_code=status)
        return Response(content=f"{request.method} {SEEN[key]}", media_type="text/plain")

    @app.get("/api/v1/ideas/slow")
    async def slow(seconds: float) -> dict[str, str]:
        SEEN["slow"] += 1
        await asyncio.sleep(seconds)
        return {"status": "late"}

    @app.put("/api/v1/ideas/sink")
    async def sink(request: Request) -> Response:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return Response(content=str(size), media_type="text/plain")

    @app.get("/api/v1/ideas/hop")
    async def hop(request: Request) -> Response:
        SEEN["hop"] += 1
        headers = {
            "X-Seen": ",".join(sorted(request.headers.keys())),
            "Connection": "X-Internal",
            "X-Internal": "secret",
            "Proxy-Authenticate": "Basic",
        }
        return Response(content=b"ok", headers=headers)

    return app


class Upstream:
    """One flaky upstream on a fixed port that can be killed and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: RunningServer | None = None

    async def start(self) -> None:
        self.server = await RunningServer(flaky_app(), port=self.port).start()

    async def kill(self) -> None:
        assert self.server is not None
        await self.server.stop()
        self.server = None


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    await server.start()
    yield server
    if server.server is not None:
        await server.kill()


GatewayFactory = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_gateway(
    upstream: Upstream,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
) -> AsyncIterator[GatewayFactory]:
    started: list[RunningServer] = []

    async def start(**values: Any) -> httpx.AsyncClient:
        settings = gateway_settings_factory(upstream_ideas=upstream.url, **values)
        app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
        server = await RunningServer(app).start()
        started.append(server)
        return httpx.AsyncClient(base_url=server.url, timeout=20)

    yield start
    for server in started:
        await server.stop()


def retries_counted(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "kommune_gateway_upstream_retries_total", {"upstream": "ideas", "reason": reason}
    )
    return value or 0.0


async def test_idempotent_requests_are_retried_on_502_and_503_posts_are_not(
    start_gateway: GatewayFactory, token: TokenFactory
) -> None:
    async with await start_gateway(upstream_retries=2, upstream_backoff_seconds=0.01) as client:
        auth = {"Authorization": token()}
        response = await client.get("/api/v1/ideas/flaky/get-503?fail=2", headers=auth)
        assert response.status_code == 200
        assert response.text == "GET 3"
        assert SEEN["get-503"] == 3

        response = await client.put("/api/v1/ideas/flaky/put-502?fail=1&status=502", headers=auth)
        assert response.status_code == 200
        assert SEEN["put-502"] == 2

        # POST is not idempotent: its 503 reaches the caller after exactly one attempt.
        response = await client.post("/api/v1/ideas/flaky/post?fail=1", headers=auth, json={})
        assert response.status_code == 503
        assert SEEN["post"] == 1

        # A 500 is an answer, not "not handled": never repeated.
        response = await client.get("/api/v1/ideas/flaky/get-500?fail=1&status=500", headers=auth)
        assert response.status_code == 500
        assert SEEN["get-500"] == 1

        # More failures than retries: the upstream's last 503 is passed on.
        response = await client.get("/api/v1/ideas/flaky/get-many?fail=9", headers=auth)
        assert response.status_code == 503
        assert SEEN["get-many"] == 3


async def test_connect_errors_are_retried_for_idempotent_methods_only(
    start_gateway: GatewayFactory,
    token: TokenFactory,
    gateway_settings_factory: Any,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
) -> None:
    from .conftest import closed_port_url

    settings = gateway_settings_factory(
        upstream_ideas=closed_port_url(), upstream_retries=2, upstream_backoff_seconds=0.01
    )
    app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
    async with RunningServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        auth = {"Authorization": token()}
        before = retries_counted("connect")
        body = assert_problem(await client.get("/api/v1/ideas/x", headers=auth), 502)
        assert body["code"] == "upstream_unavailable"
        assert body["upstream"] == "ideas"
        assert retries_counted("connect") == before + 2
        response = await client.post("/api/v1/ideas/x", headers=auth, json={})
        assert_problem(response, 502, "upstream_unavailable")
        assert retries_counted("connect") == before + 2


async def test_total_timeout_bounds_the_wait_per_upstream(
    start_gateway: GatewayFactory, token: TokenFactory
) -> None:
    policies = {"ideas": {"total_timeout": 0.5, "read_timeout": 10}}
    async with await start_gateway(upstream_policies=policies) as client:
        started = time.monotonic()
        response = await client.get(
            "/api/v1/ideas/slow?seconds=3", headers={"Authorization": token()}
        )
        elapsed = time.monotonic() - started
        body = assert_problem(response, 504, "upstream_timeout")
        assert body["upstream"] == "ideas"
        assert elapsed < 2.5, elapsed  # the read timeout (10 s) did not decide


async def test_a_slow_upload_is_not_the_upstreams_timeout_nor_its_breakers(
    start_gateway: GatewayFactory, token: TokenFactory
) -> None:
    policies = {"ideas": {"total_timeout": 0.3, "read_timeout": 0.3, "breaker_threshold": 1}}

    async def slow_upload() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024
            await asyncio.sleep(0.1)

    async with await start_gateway(upstream_policies=policies, proxy_buffer_bytes=1024) as client:
        auth = {"Authorization": token()}
        # The caller takes 0.8 s to send its body; the upstream's 0.3 s start once it is sent.
        response = await client.put("/api/v1/ideas/sink", headers=auth, content=slow_upload())
        assert (response.status_code, response.text) == (200, "8192")
        # Not counted against the upstream: with a threshold of 1, its breaker is still closed.
        assert (await client.get("/api/v1/ideas/hop", headers=auth)).status_code == 200


def test_a_policy_for_an_unknown_upstream_is_refused(gateway_settings_factory: Any) -> None:
    with pytest.raises(ValueError, match="unknown upstreams"):
        gateway_settings_factory(upstream_policies={"idaes": {"read_timeout": 3}})
    with pytest.raises(ValueError, match="greater than 0"):
        gateway_settings_factory(upstream_policies={"ideas": {"read_timeout": -1}})


async def test_a_killed_upstream_opens_the_breaker_and_a_probe_closes_it(
    start_gateway: GatewayFactory, upstream: Upstream, token: TokenFactory
) -> None:
    async with await start_gateway(
        upstream_retries=0, breaker_threshold=3, breaker_open_seconds=1.0
    ) as client:
        auth = {"Authorization": token()}
        assert (await client.get("/api/v1/ideas/flaky/ok?fail=0", headers=auth)).status_code == 200

        await upstream.kill()
        for _ in range(3):
            body = assert_problem(await client.get("/api/v1/ideas/hop", headers=auth), 502)
            assert body["upstream"] == "ideas"
        await upstream.start()  # back, but the breaker is open: nothing reaches it
        SEEN["hop"] = 0
        started = time.monotonic()
        response = await client.get("/api/v1/ideas/hop", headers=auth)
        body = assert_problem(response, 503, "upstream_circuit_open")
        assert body["upstream"] == "ideas"
        assert response.headers["retry-after"] == "1"
        assert "x-request-id" in response.headers

        # Wait (bounded) until the breaker lets the probe through; until then every call is
        # refused without reaching the upstream.
        while True:
            assert time.monotonic() - started < 5, "the breaker never half-opened"
            response = await client.get("/api/v1/ideas/hop", headers=auth)
            if response.status_code != 503:
                break
            assert response.json()["code"] == "upstream_circuit_open"
            assert SEEN["hop"] == 0
            await asyncio.sleep(0.05)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.9
        assert SEEN["hop"] == 1
        # Closed again: the next calls go through at once.
        assert (await client.get("/api/v1/ideas/hop", headers=auth)).status_code == 200
        assert SEEN["hop"] == 2


async def test_hop_by_hop_headers_are_dropped_both_ways(
    start_gateway: GatewayFactory, token: TokenFactory
) -> None:
    async with await start_gateway() as client:
        response = await client.get(
            "/api/v1/ideas/hop",
            headers=[
                ("Authorization", token()),
                ("Connection", "keep-alive, X-Private"),
                ("Connection", "X-Second"),  # every Connection line counts (RFC 9110 7.6.1)
                ("X-Private", "for the gateway only"),
                ("X-Second", "for the gateway too"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                ("Upgrade", "websocket"),
                ("X-End-To-End", "kept"),
            ],
        )
    assert response.status_code == 200
    seen = response.headers["x-seen"].split(",")
    assert "x-end-to-end" in seen
    for header in ("x-private", "x-second", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert header not in seen, header
    assert "x-internal" not in response.headers
    assert "proxy-authenticate" not in response.headers


def state(breaker: CircuitBreaker) -> State:
    return breaker.state  # (a call: mypy narrows a property across assertions)


def test_breaker_states_with_a_clock() -> None:
    now = [0.0]
    breaker = CircuitBreaker("unit", threshold=2, open_seconds=5, clock=lambda: now[0])
    breaker.record_failure()
    assert state(breaker) is State.CLOSED
    breaker.record_success()  # a success resets the count: failures must be consecutive
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is State.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == 5
    now[0] = 5.0
    assert state(breaker) is State.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.record_failure()  # probe failed: open again for the full period
    assert state(breaker) is State.OPEN
    now[0] = 10.0
    assert breaker.allow()
    breaker.abandon()  # caller went away: the next one may probe
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is State.CLOSED


def test_backoff_doubles_with_full_jitter() -> None:
    policy = UpstreamPolicy(backoff_seconds=0.1)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0


async def test_metrics_count_attempts_per_upstream_and_outcome(
    start_gateway: GatewayFactory, token: TokenFactory
) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    ok_before = sample("kommune_gateway_upstream_requests_total", upstream="ideas", outcome="200")
    busy_before = sample("kommune_gateway_upstream_requests_total", upstream="ideas", outcome="503")
    latency_before = sample("kommune_gateway_upstream_latency_seconds_count", upstream="ideas")
    async with await start_gateway(upstream_retries=1, upstream_backoff_seconds=0.01) as client:
        response = await client.get(
            "/api/v1/ideas/flaky/metrics?fail=1", headers={"Authorization": token()}
        )
    assert response.status_code == 200
    after = sample("kommune_gateway_upstream_requests_total", upstream="ideas", outcome="200")
    assert after == ok_before + 1
    busy = sample("kommune_gateway_upstream_requests_total", upstream="ideas", outcome="503")
    assert busy == busy_before + 1
    latency = sample("kommune_gateway_upstream_latency_seconds_count", upstream="ideas")
    assert latency == latency_before + 2
    assert sample("kommune_gateway_circuit_state", upstream="ideas") == 0
