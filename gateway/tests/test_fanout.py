"""Aggregated reads part by part, against real upstream servers: each part fails on its own.

The ``ideas`` upstream of conftest is a real Kommune service (token verified again there, a
``/slow`` endpoint); ``documents`` is a closed port; ``sensors`` is not deployed.
"""

from __future__ import annotations

import time
from typing import Any

from kommune.testing.auth import TokenFactory
from kommune.testing.servers import RunningServer
from kommune_gateway.fanout import Part, gather_parts
from kommune_gateway.proxy import UpstreamPool
from kommune_gateway.resilience import State, UpstreamPolicy

from .conftest import closed_port_url


def _pool(ideas: RunningServer, *, threshold: int = 5) -> UpstreamPool:
    policy = UpstreamPolicy(retries=0, breaker_threshold=threshold, breaker_open_seconds=60)
    return UpstreamPool(
        {"ideas": ideas.url, "documents": closed_port_url(), "sensors": ""},
        default_policy=policy,
    )


def _sub(body: Any) -> str:
    sub: str = body["sub"]
    return sub


async def test_each_part_succeeds_or_is_named_with_its_reason(
    ideas_upstream: RunningServer, token: TokenFactory
) -> None:
    pool = _pool(ideas_upstream)
    try:
        started = time.perf_counter()
        gathered = await gather_parts(
            pool,
            [
                Part("me", "ideas", "/api/v1/ideas/whoami", _sub),
                Part("slow", "ideas", "/api/v1/ideas/slow", _sub, {"seconds": "3"}),
                Part("files", "documents", "/api/v1/files", _sub),
                Part("sensors", "sensors", "/api/v1/sensors/alerts", _sub),
                Part("gone", "ideas", "/api/v1/ideas/no-such-endpoint", _sub),
                Part("shape", "ideas", "/api/v1/ideas/echo", _sub),  # 200, but no "sub"
            ],
            authorization=token("erika", ["change_agent"]),
            deadline=0.5,
        )
        elapsed = time.perf_counter() - started
    finally:
        await pool.aclose()
    assert gathered.values == {"me": "erika"}  # the caller's token reached the service
    assert {m.part: (m.upstream, m.reason) for m in gathered.missing} == {
        "slow": ("ideas", "timeout"),
        "files": ("documents", "unavailable"),
        "sensors": ("sensors", "not_deployed"),
        "gone": ("ideas", "not_available"),
        "shape": ("ideas", "error"),
    }
    assert elapsed < 2.0, elapsed  # in parallel, each bounded by its deadline


async def test_the_upstream_decides_with_the_callers_token(
    ideas_upstream: RunningServer, token: TokenFactory
) -> None:
    pool = _pool(ideas_upstream)
    try:
        part = Part("me", "ideas", "/api/v1/ideas/whoami", _sub)
        refused = await gather_parts(pool, [part], authorization="Bearer forged", deadline=2)
    finally:
        await pool.aclose()
    assert refused.values == {}
    assert [(m.part, m.reason) for m in refused.missing] == [("me", "unauthorized")]


async def test_failures_open_the_breaker_and_then_the_upstream_is_not_tried(
    ideas_upstream: RunningServer, token: TokenFactory
) -> None:
    pool = _pool(ideas_upstream, threshold=2)
    down = Part("files", "documents", "/api/v1/files", _sub)
    try:
        first = await gather_parts(pool, [down, down], authorization=token(), deadline=1)
        assert [m.reason for m in first.missing] == ["unavailable", "unavailable"]
        assert pool.breaker("documents").state is State.OPEN
        second = await gather_parts(pool, [down], authorization=token(), deadline=1)
        assert [m.reason for m in second.missing] == ["circuit_open"]
        # A timeout counts against the breaker too; a 404 is an answer (the upstream is up).
        slow = Part("slow", "ideas", "/api/v1/ideas/slow", _sub, {"seconds": "3"})
        await gather_parts(pool, [slow, slow], authorization=token(), deadline=0.3)
        assert pool.breaker("ideas").state is State.OPEN
    finally:
        await pool.aclose()
