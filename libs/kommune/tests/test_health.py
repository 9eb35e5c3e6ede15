"""Readiness checks against the real servers: database, Kafka, caching and failure reporting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.db import create_engine
from kommune.health import CheckResult, HealthChecks


@pytest.fixture
async def engine(create_database: Any) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await create_database("health_test"), pool_size=2)
    yield engine
    await engine.dispose()


async def test_database_and_kafka_ok(engine: AsyncEngine, kafka_bootstrap_servers: str) -> None:
    health = HealthChecks(engine, kafka_bootstrap_servers)
    try:
        report = await health.check()
    finally:
        await health.aclose()
    assert report["status"] == "ok"
    assert report["failing"] == []
    assert report["checks"]["database"]["status"] == "ok"
    assert report["checks"]["kafka"]["status"] == "ok"


async def test_probe_storm_makes_one_kafka_request(
    engine: AsyncEngine, kafka_bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = HealthChecks(engine, kafka_bootstrap_servers, cache_seconds=60)
    probes = 0
    real_probe = health._probe_kafka

    async def counting_probe() -> CheckResult:
        nonlocal probes
        probes += 1
        return await real_probe()

    monkeypatch.setattr(health, "_probe_kafka", counting_probe)
    try:
        reports = await asyncio.gather(*(health.check() for _ in range(50)))
        client = health._kafka_client
        await health.check()
        assert health._kafka_client is client  # one client, reused
    finally:
        await health.aclose()
    assert probes == 1
    assert all(r["checks"]["kafka"]["status"] == "ok" for r in reports)


async def test_unreachable_database_fails_quickly_and_is_named(
    kafka_bootstrap_servers: str,
) -> None:
    engine = create_engine("postgresql+asyncpg://kommune:kommune@127.0.0.1:1/none")
    health = HealthChecks(engine, kafka_bootstrap_servers, timeout=1.0)
    try:
        async with asyncio.timeout(5):
            report = await health.check()
    finally:
        await health.aclose()
        await engine.dispose()
    assert report["status"] == "fail"
    assert report["failing"] == ["database"]
    assert report["checks"]["database"]["status"] == "fail"
    # The reason is a type name, not a message that might carry hosts or credentials.
    assert "kommune:kommune" not in str(report)


async def test_unreachable_kafka_is_reported_but_optional_by_default(engine: AsyncEngine) -> None:
    health = HealthChecks(engine, "127.0.0.1:1", timeout=1.0)
    try:
        report = await health.check()
    finally:
        await health.aclose()
    assert report["status"] == "degraded"
    assert report["failing"] == []
    assert report["checks"]["kafka"] == {
        "status": "fail",
        "error": report["checks"]["kafka"]["error"],
        "latency_ms": report["checks"]["kafka"]["latency_ms"],
        "required": False,
    }


async def test_extra_checks_raising_or_hanging_count_as_failures() -> None:
    async def broken() -> CheckResult:
        raise RuntimeError("secret detail")

    async def hanging() -> CheckResult:
        await asyncio.sleep(60)
        return {"status": "ok"}

    async def fine() -> CheckResult:
        return {"status": "ok"}

    health = HealthChecks(None, None, timeout=0.2)
    health.add_check("broken", broken)
    health.add_check("hanging", hanging, required=False)
    health.add_check("fine", fine)
    async with asyncio.timeout(3):
        report = await health.check()
    assert report["failing"] == ["broken"]
    assert report["checks"]["broken"]["error"] == "RuntimeError"
    assert report["checks"]["hanging"]["error"] == "timed out"
    assert report["checks"]["fine"]["status"] == "ok"
