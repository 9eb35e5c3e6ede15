"""Liveness and readiness probes.

* ``GET /healthz`` — liveness: the process answers; it checks nothing else, so a database outage
  never makes Kubernetes restart healthy pods.
* ``GET /readyz`` — readiness: the database answers ``SELECT 1`` and Kafka answers a metadata
  request. A failing *required* check gives 503 ``application/problem+json`` naming it.

Kafka is *not* required by default: thanks to the outbox, a service with Kafka down still serves
its API and only delays events, and taking every replica out of the load balancer because a
shared broker blips would turn a delay into an outage. Its status is still reported (overall
``"degraded"``). Services that cannot work without the broker (direct sensor ingestion) pass
``kafka_required=True``. Other checks (the gateway's upstreams) can be added with
:meth:`HealthChecks.add_check`.

The Kafka check reuses one lazily created client and caches its result for ``cache_seconds``, so
a storm of probes does not become a storm of broker requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.errors import problem_response
from kommune.events.shutdown import stop_kafka_client

log = structlog.get_logger(__name__)

CheckResult = dict[str, Any]
Check = Callable[[], Awaitable[CheckResult]]
"""A check returns ``{"status": "ok" | "fail", ...details}``; raising counts as ``fail``."""


@dataclass(slots=True)
class _Registered:
    check: Check
    required: bool
    cache_seconds: float = 0.0
    cached: tuple[float, CheckResult] | None = None


class HealthChecks:
    def __init__(
        self,
        engine: AsyncEngine | None,
        kafka_bootstrap: str | None,
        *,
        kafka_required: bool = False,
        timeout: float = 2.0,
        cache_seconds: float = 2.0,
    ) -> None:
        self._engine = engine
        self._kafka_bootstrap = kafka_bootstrap
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._kafka_client: Any = None
        self._kafka_lock = asyncio.Lock()
        self._kafka_cached: tuple[float, CheckResult] | None = None
        self._kafka_probe: asyncio.Future[CheckResult] | None = None
        self._checks: dict[str, _Registered] = {}
        if engine is not None:
            self.add_check("database", self.check_database)
        if kafka_bootstrap:
            self.add_check("kafka", self.check_kafka, required=kafka_required)

    def add_check(
        self, name: str, check: Check, *, required: bool = True, cache_seconds: float = 0.0
    ) -> None:
        """Register a check; ``required=False`` ones are reported but never fail readiness."""
        self._checks[name] = _Registered(check, required, cache_seconds)

    async def check(self) -> dict[str, Any]:
        """Run every check concurrently: ``{"status": "ok"|"degraded"|"fail", "checks": {...}}``."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(name) for name in names))
        checks = dict(zip(names, results, strict=True))
        failing = [name for name in names if checks[name]["status"] != "ok"]
        required_failing = [name for name in failing if self._checks[name].required]
        status = "fail" if required_failing else "degraded" if failing else "ok"
        return {"status": status, "checks": checks, "failing": required_failing}

    async def _run(self, name: str) -> CheckResult:
        registered = self._checks[name]
        cached = registered.cached
        if cached is not None and time.monotonic() - cached[0] < registered.cache_seconds:
            return dict(cached[1])
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout + 0.5):
                result = await registered.check()
        except Exception as exc:
            result = {"status": "fail", "error": _describe(exc)}
        result.setdefault("latency_ms", round((time.perf_counter() - start) * 1000, 1))
        if not registered.required:
            result["required"] = False
        if registered.cache_seconds > 0:
            registered.cached = (time.monotonic(), result)
        return dict(result)

    async def check_database(self) -> CheckResult:
        assert self._engine is not None
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readiness_database_failed", error=_describe(exc), message=str(exc)[:200])
            return {"status": "fail", "error": _describe(exc)}
        return {"status": "ok"}

    async def check_kafka(self) -> CheckResult:
        cached = self._kafka_cached
        if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
            return dict(cached[1])
        async with self._kafka_lock:
            cached = self._kafka_cached
            if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
                return dict(cached[1])
            result = await self._probe_kafka()
            self._kafka_cached = (time.monotonic(), result)
            return dict(result)

    async def _probe_kafka(self) -> CheckResult:
        # The probe runs in a task of its own so that aclose() can cancel it (and abort the
        # client it talks through) without waiting for a broker that does not answer.
        probe = asyncio.ensure_future(self._probe_kafka_once())
        self._kafka_probe = probe
        try:
            return await asyncio.shield(probe)
        finally:
            if self._kafka_probe is probe:
                self._kafka_probe = None

    async def _probe_kafka_once(self) -> CheckResult:
        from aiokafka.client import AIOKafkaClient

        try:
            async with asyncio.timeout(self._timeout):
                if self._kafka_client is None:
                    client = AIOKafkaClient(
                        bootstrap_servers=self._kafka_bootstrap,
                        client_id="kommune-health",
                        request_timeout_ms=int(self._timeout * 1000),
                        metadata_max_age_ms=3_600_000,
                    )
                    self._kafka_client = client
                    await client.bootstrap()
                metadata = await self._kafka_client.fetch_all_metadata()
                brokers = len(metadata.brokers())
        except Exception as exc:
            log.warning("readiness_kafka_failed", error=_describe(exc), message=str(exc)[:200])
            await self._close_kafka_client()  # start from a fresh bootstrap next time
            return {"status": "fail", "error": _describe(exc)}
        if brokers == 0:
            return {"status": "fail", "error": "no brokers in cluster metadata"}
        return {"status": "ok", "brokers": brokers}

    async def _close_kafka_client(self) -> None:
        client, self._kafka_client = self._kafka_client, None
        if client is not None:
            await stop_kafka_client("readiness Kafka client", client, within=1.0, stop="close")

    async def aclose(self) -> None:
        """Cancel a probe in flight and close the Kafka client, in bounded time; never raises."""
        probe, self._kafka_probe = self._kafka_probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            await asyncio.wait({probe}, timeout=1.0)
        await self._close_kafka_client()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    # The exception type tells an operator enough; messages may contain hosts or credentials.
    return type(exc).__name__


health_router = APIRouter(include_in_schema=False)


@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up. No dependency is checked."""
    return {"status": "ok"}


@health_router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 with each check's status, or 503 problem naming the failing checks."""
    health: HealthChecks = request.state.health
    report = await health.check()
    failing: list[str] = report.pop("failing")
    if failing:
        return problem_response(
            503,
            "not_ready",
            "Service not ready",
            f"Failing checks: {', '.join(failing)}.",
            instance=request.url.path,
            failing=failing,
            checks=report["checks"],
        )
    return JSONResponse(report)
