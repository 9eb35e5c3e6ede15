"""Rate limits per token subject and per address, shared by two replicas through PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from kommune.auth.dev_issuer import DevIssuer
from kommune.db import asyncpg_dsn
from kommune.testing.auth import TokenFactory
from kommune.testing.servers import RunningServer
from kommune_gateway.main import create_gateway_app
from kommune_gateway.ratelimit import RateLimiter, RateRule, retry_after
from kommune_gateway.routes import READ_METHODS, Route

from .test_gateway import assert_problem

SEEN: Counter[str] = Counter()

ROUTES = (
    Route(prefix="/api/v1/ideas", upstream="ideas"),
    Route(
        prefix="/api/v1/ideas/search",
        upstream="ideas",
        rate_limit=RateRule(3, 3600),
    ),
    Route(prefix="/open311", upstream="ideas", public_methods=READ_METHODS),
)


def counting_app() -> FastAPI:
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        SEEN[path] += 1
        return {"path": path}

    return app


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_counters(gateway_database: str) -> None:
    """Every test starts with no counts (the address of all test clients is 127.0.0.1)."""
    connection = await asyncpg.connect(asyncpg_dsn(gateway_database))
    try:
        await connection.execute("TRUNCATE rate_limit_counters")
    finally:
        await connection.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def upstream() -> AsyncIterator[RunningServer]:
    async with RunningServer(counting_app()) as server:
        yield server


async def start(
    upstream: RunningServer,
    factory: Any,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    **values: Any,
) -> RunningServer:
    settings = factory(upstream_ideas=upstream.url, **values)
    app = create_gateway_app(
        settings, routes=ROUTES, http_transport=issuer_transport, dev_issuer=dev_issuer
    )
    return await RunningServer(app).start()


@pytest.mark.usefixtures("fresh_counters")
async def test_an_anonymous_client_firing_300_requests_is_limited(
    upstream: RunningServer,
    gateway_settings_factory: Any,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
) -> None:
    gateway = await start(upstream, gateway_settings_factory, issuer_transport, dev_issuer)
    SEEN.clear()
    try:
        async with httpx.AsyncClient(
            base_url=gateway.url, limits=httpx.Limits(max_connections=20)
        ) as client:
            responses = await asyncio.gather(
                *(client.get("/open311/v2/services.json") for _ in range(300))
            )
    finally:
        await gateway.stop()
    allowed = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(allowed) + len(refused) == 300
    # Default: 60 per sliding minute. A minute boundary during the burst lets the previous
    # minute's count slide out by at most (burst seconds / 60) x 60: a request or two.
    assert 60 <= len(allowed) <= 62, len(allowed)
    assert SEEN["open311/v2/services.json"] == len(allowed)  # refused ones never reached it
    assert allowed[0].headers["ratelimit-limit"] == "60"
    assert allowed[0].headers["ratelimit-policy"] == "60;w=60"
    remaining = sorted(int(r.headers["ratelimit-remaining"]) for r in allowed)
    assert remaining[0] == 0
    assert remaining[-1] >= 58
    body = assert_problem(refused[0], 429, "rate_limited")
    assert "60 per 60 s" in body["detail"]
    assert refused[0].headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused[0].headers["retry-after"]) <= 120


@pytest.mark.usefixtures("fresh_counters")
async def test_a_token_callers_budget_is_shared_by_replicas_and_per_subject(
    upstream: RunningServer,
    gateway_settings_factory: Any,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    token: TokenFactory,
) -> None:
    values = {"rate_limit_requests": 10, "rate_limit_window_seconds": 3600}
    a = await start(upstream, gateway_settings_factory, issuer_transport, dev_issuer, **values)
    b = await start(upstream, gateway_settings_factory, issuer_transport, dev_issuer, **values)
    alice = {"Authorization": token(sub="alice-rl")}
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(6):
                assert (await client.get(f"{a.url}/api/v1/ideas/x", headers=alice)).is_success
            statuses = [
                (await client.get(f"{b.url}/api/v1/ideas/x", headers=alice)).status_code
                for _ in range(5)
            ]
            assert statuses == [200, 200, 200, 200, 429]
            refused = await client.get(f"{a.url}/api/v1/ideas/x", headers=alice)
            assert_problem(refused, 429, "rate_limited")
            # Another subject has its own budget.
            bob = {"Authorization": token(sub="bob-rl")}
            response = await client.get(f"{a.url}/api/v1/ideas/x", headers=bob)
            assert response.status_code == 200
            assert response.headers["ratelimit-remaining"] == "9"
            # A route with its own rule counts apart: alice may still search, 3 times.
            searches = [
                (await client.get(f"{b.url}/api/v1/ideas/search", headers=alice)).status_code
                for _ in range(4)
            ]
            assert searches == [200, 200, 200, 429]
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.usefixtures("fresh_counters")
async def test_limits_can_be_switched_off(
    upstream: RunningServer,
    gateway_settings_factory: Any,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
) -> None:
    gateway = await start(
        upstream,
        gateway_settings_factory,
        issuer_transport,
        dev_issuer,
        rate_limit_enabled=False,
        rate_limit_anonymous_requests=1,
    )
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            for _ in range(3):
                response = await client.get("/open311/v2/services.json")
                assert response.status_code == 200
                assert "ratelimit-limit" not in response.headers
    finally:
        await gateway.stop()


async def test_the_window_slides_and_retry_after_is_exact(gateway_database: str) -> None:
    """With a clock of our own against the real table: when exactly a request fits again."""
    now = [7_200_000.0]  # the start of a 60 s window
    pool = await asyncpg.create_pool(asyncpg_dsn(gateway_database), min_size=1, max_size=2)
    try:
        limiter = RateLimiter(pool, clock=lambda: now[0])
        rule = RateRule(10, 60)
        bucket = f"test|sub:clock-{id(now)}"
        for _ in range(10):
            decision = await limiter.hit(bucket, rule)
            assert decision is not None
            assert decision.allowed
        refused = await limiter.hit(bucket, rule)
        assert refused is not None
        assert not refused.allowed
        # Only in the next window, once 10 x (1 - t / 60) + 1 <= 10: 60 + 6 s.
        assert refused.retry_after == retry_after(rule, 0, 10, 0.0) == 66
        # 30 s into the next window, half of the previous one still counts: 5 + 0 → 5 left.
        now[0] += 90
        results = [await limiter.hit(bucket, rule) for _ in range(6)]
        assert [d.allowed for d in results if d is not None] == [True] * 5 + [False]
        last = results[-1]
        assert last is not None
        # 10 x (1 - (30 + t) / 60) + 5 + 1 <= 10  →  t = 6 s.
        assert last.retry_after == 6
        now[0] += 6
        fits = await limiter.hit(bucket, rule)
        assert fits is not None
        assert fits.allowed
        # A limit within the reserve is never decided locally: no state kept per caller.
        assert len(limiter) == 0
    finally:
        await pool.close()


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="requests >= 1"):
        RateRule(0)
    with pytest.raises(ValueError, match="window"):
        RateRule(5, 0)


async def _stored_hits(pool: asyncpg.Pool, bucket: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT coalesce(sum(hits), 0) FROM rate_limit_counters WHERE bucket = $1", bucket
        )
    )


async def test_far_below_the_limit_hits_are_counted_here_and_written_in_one_batch(
    gateway_database: str,
) -> None:
    now = [7_200_000.0]
    pool = await asyncpg.create_pool(asyncpg_dsn(gateway_database), min_size=1, max_size=2)
    # No background flush during the test: it writes when told to (or when it must).
    limiter = RateLimiter(pool, clock=lambda: now[0], flush_seconds=3600)
    rule = RateRule(1000, 60)  # reserve 100: at most 50 pending
    bucket = f"test|sub:local-{id(now)}"
    try:
        decisions = [await limiter.hit(bucket, rule) for _ in range(30)]
        assert all(d is not None and d.allowed for d in decisions)
        remaining = [d.remaining for d in decisions if d is not None]
        assert remaining == list(range(999, 969, -1))
        assert await _stored_hits(pool, bucket) == 1  # only the first asked PostgreSQL
        await limiter.flush()
        assert await _stored_hits(pool, bucket) == 30
        # Half the reserve pending at most: the 51st local hit takes the exact statement,
        # which writes the 50 pending ones first.
        for _ in range(51):
            assert (await limiter.hit(bucket, rule)) is not None
        assert await _stored_hits(pool, bucket) == 81
        # Counts read more than max_age (1 s) ago are not trusted: exact again.
        now[0] += 2
        assert (await limiter.hit(bucket, rule)) is not None
        assert await _stored_hits(pool, bucket) == 82
        # Idle buckets are forgotten by the housekeeping (bounded memory).
        assert len(limiter) == 1
        now[0] += 2
        await limiter.expire()
        assert len(limiter) == 0
    finally:
        await limiter.aclose()
        await pool.close()


async def test_two_replicas_counting_locally_share_one_budget(gateway_database: str) -> None:
    """Requests of one caller alternating between two replicas: exactly the limit gets through,
    and every hit let through is in the shared table."""
    now = [7_200_000.0]
    pool = await asyncpg.create_pool(asyncpg_dsn(gateway_database), min_size=1, max_size=4)
    replicas = [RateLimiter(pool, clock=lambda: now[0], flush_seconds=3600) for _ in range(2)]
    rule = RateRule(150, 60)  # reserve 50: local below 100, at most 25 pending per replica
    bucket = f"test|sub:replicas-{id(now)}"
    try:
        allowed = 0
        for i in range(300):
            decision = await replicas[i % 2].hit(bucket, rule)
            assert decision is not None
            allowed += decision.allowed
        assert allowed == 150
        for replica in replicas:
            await replica.flush()
        assert await _stored_hits(pool, bucket) == 150
    finally:
        for replica in replicas:
            await replica.aclose()
        await pool.close()
