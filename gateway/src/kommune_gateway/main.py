"""The gateway application: one public REST API in front of the services.

Built from the shared runtime's HTTP pieces (problem responses, request context, metrics,
probes, body limits) but without a database. What it adds:

* routing by the table in :mod:`kommune_gateway.routes` (longest prefix by whole segments),
  streaming through :mod:`kommune_gateway.proxy`;
* what one caller may hold: a limit of requests in flight per token subject (429), and small
  bodies read before an upstream connection is taken (docs/adr/0009-limits-at-the-edge.md);
* token verification at the edge (every service verifies again: no trusted identity headers);
* ``GET /openapi.json`` and ``/docs`` (Swagger UI, assets under ``/docs/static``) for the merged
  API of all services;
* in dev and test only (set explicitly; the default is production), the development OIDC
  issuer at ``/auth/dev`` when ``KOMMUNE_OIDC_ISSUER`` points at it.

Readiness: ``/readyz`` is 200 whenever the gateway itself can serve; the upstreams' ``/readyz``
are reported in the body (``"degraded"`` when one is down) but do not fail it. A service being
down already yields 502 for its own routes; failing the gateway's readiness as well would take
*every* route, including those of healthy services, out of the load balancer.

Run with ``python -m kommune.serve kommune_gateway.main:app --port 8000`` (uvicorn with the
header/body deadlines and header limits, ``/metrics`` on port 9000); ``app`` is built on first
access from the environment, so importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypedDict

import asyncpg  # type: ignore[import-untyped]
import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from kommune.app import (
    NO_FASTAPI_TELEMETRY,
    freeze_startup_objects,
    install_runtime,
    oidc_http_client,
    server_limits,
)
from kommune.auth.dev_issuer import (
    DEV_ISSUER_PREFIX,
    DevIssuer,
    is_dev_issuer_url,
    mount_dev_issuer,
)
from kommune.auth.verifier import TokenVerifier
from kommune.db import asyncpg_dsn
from kommune.docs import install_docs
from kommune.errors import problem_response
from kommune.health import CheckResult, HealthChecks
from kommune.telemetry.logging import configure_logging
from kommune_gateway import activity_api, dashboard
from kommune_gateway.activity import ActivityLog, activity_log
from kommune_gateway.fast_path import FastPath, GatewayApp
from kommune_gateway.idempotency import IdempotencyStore
from kommune_gateway.openapi import OpenAPIAggregator
from kommune_gateway.proxy import CallerLimiter, GatewayProblem, UpstreamPool
from kommune_gateway.proxy_endpoint import ProxyEndpoint
from kommune_gateway.ratelimit import RateLimiter
from kommune_gateway.routes import ROUTES, Route, RoutingTable
from kommune_gateway.settings import GatewaySettings
from kommune_gateway.token_cache import VerifiedTokens

log = structlog.get_logger(__name__)

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "traceparent",
    "If-Match",
    "If-None-Match",
]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "traceparent",
    "Location",
    "ETag",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Idempotent-Replayed",
]
TITLE = "Kommune API"
DESCRIPTION = (
    "The public REST API of the Kommune platform: staff idea management and intranet, "
    "electronic records (E-Akte), citizen e-services and smart-city sensor data. "
    "Authenticate with an OIDC bearer token (`Authorization: Bearer <token>`)."
)


class GatewayState(TypedDict):
    settings: GatewaySettings
    token_verifier: TokenVerifier
    health: HealthChecks
    upstreams: UpstreamPool
    openapi: OpenAPIAggregator
    callers: CallerLimiter
    verified_tokens: VerifiedTokens
    database: asyncpg.Pool
    idempotency: IdempotencyStore
    rate_limiter: RateLimiter | None
    activity: ActivityLog


def create_gateway_app(
    settings: GatewaySettings | None = None,
    *,
    routes: Sequence[Route] = ROUTES,
    http_transport: httpx.AsyncBaseTransport | None = None,
    upstream_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    dev_issuer: DevIssuer | None = None,
) -> FastAPI:
    """Build the gateway.

    ``http_transport`` routes OIDC discovery (tests: the ``issuer_transport`` fixture);
    ``upstream_transports`` replaces the network for named upstreams (unit tests only);
    ``dev_issuer`` is the issuer mounted at ``/auth/dev`` in dev/test (default: the shared key
    file ``settings.dev_issuer_key_file`` with ``settings.oidc_issuer`` as issuer URL).
    """
    settings = settings or GatewaySettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    settings.cursor_key  # noqa: B018 - fails closed: the activity feed signs its cursors

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
        async with AsyncExitStack() as stack:
            http = oidc_http_client(http_transport)
            stack.push_async_callback(http.aclose)
            verifier = await stack.enter_async_context(TokenVerifier.from_settings(settings, http))
            pool = UpstreamPool(
                settings.upstreams(),
                policies={name: settings.upstream_policy(name) for name in settings.upstreams()},
                pool_timeout=settings.upstream_pool_timeout,
                max_connections=settings.upstream_max_connections,
                max_keepalive=settings.upstream_max_keepalive,
                transports=upstream_transports,
            )
            stack.push_async_callback(pool.aclose)
            # min_size=0: the gateway starts (and proxies) while its database is still down.
            database = await asyncpg.create_pool(
                asyncpg_dsn(settings.database_url),
                min_size=0,
                max_size=settings.database_pool_size,
                server_settings={"application_name": "gateway", "timezone": "UTC"},
                # The statements keep no session state (no SET, LISTEN, advisory or prepared
                # cursors): the default reset would be one more round trip per request.
                reset=_no_reset,
            )
            stack.push_async_callback(database.close)
            idempotency = IdempotencyStore(
                database,
                ttl_seconds=settings.idempotency_ttl_seconds,
                lock_seconds=settings.idempotency_lock_seconds,
            )
            limiter = (
                RateLimiter(database, timeout=settings.database_timeout)
                if settings.rate_limit_enabled
                else None
            )
            if limiter is not None:
                stack.push_async_callback(limiter.aclose)  # hits counted locally, not yet written
            housekeeping = asyncio.create_task(_housekeeping(idempotency, limiter))
            stack.callback(housekeeping.cancel)
            health = HealthChecks(engine=None, kafka_bootstrap=None, timeout=1.0)
            health.add_check(
                "database", functools.partial(_check_database, database), required=False
            )
            health.add_check("oidc", verifier.readiness, required=not verifier.configured)
            for name in pool.names():
                health.add_check(
                    f"upstream_{name}",
                    functools.partial(_check_upstream, pool, name),
                    required=False,
                    cache_seconds=2.0,
                )
            activity = await stack.enter_async_context(activity_log(settings))
            aggregator = OpenAPIAggregator(
                pool,
                routes,
                title=TITLE,
                version=app.version,
                description=DESCRIPTION,
                server_url=settings.public_base_url,
                own_document=app.openapi,
                cache_seconds=settings.openapi_cache_seconds,
            )
            state: GatewayState = {
                "settings": settings,
                "token_verifier": verifier,
                "health": health,
                "upstreams": pool,
                "openapi": aggregator,
                "callers": CallerLimiter(settings.max_requests_per_caller),
                "verified_tokens": VerifiedTokens(verifier, ttl=settings.token_cache_seconds),
                "database": database,
                "idempotency": idempotency,
                "rate_limiter": limiter,
                "activity": activity,
            }
            # As every service: startup objects out of the full collections (p99; ADR 0015).
            freeze_startup_objects()
            stack.callback(gc.unfreeze)
            yield dict(state)

    app = GatewayApp(
        title=TITLE,
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=NO_FASTAPI_TELEMETRY,
    )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        aggregator: OpenAPIAggregator = request.state.openapi
        return JSONResponse(await aggregator.document())

    # Swagger UI (/docs) and ReDoc (/redoc) for the merged document, assets served here.
    install_docs(app, title=TITLE, openapi_url="/openapi.json", redoc_url="/redoc")

    # Only with KOMMUNE_ENVIRONMENT=dev|test set explicitly and KOMMUNE_OIDC_ISSUER naming it.
    if settings.is_dev_or_test and is_dev_issuer_url(settings.oidc_issuer):
        issuer = dev_issuer or DevIssuer.from_key_file(
            settings.dev_issuer_key_file, str(settings.oidc_issuer), settings.dev_token_audiences()
        )
        mount_dev_issuer(app, issuer, settings.environment, prefix=DEV_ISSUER_PREFIX)

    # Starlette tries routes in order, so they are registered longest prefix first. Proxied
    # requests rarely reach them (the fast path below serves them; the table alone decides the
    # upstream): they name the metric label and answer 405 for methods the proxy does not serve.
    # Plain Starlette routes, whose endpoint (an ASGI app) is called as it is.
    table = RoutingTable(routes)
    endpoint = ProxyEndpoint(table, app.exception_handlers)
    proxy_routes: dict[str, tuple[BaseRoute, BaseRoute]] = {}
    for route in table.longest_first():
        pair = tuple(
            StarletteRoute(
                path,
                endpoint,
                methods=PROXY_METHODS,
                include_in_schema=False,
                name=f"proxy:{route.upstream}:{route.prefix}",
            )
            for path in (route.prefix, route.prefix + "/{path:path}")
        )
        app.router.routes.extend(pair)
        proxy_routes[route.prefix] = (pair[0], pair[1])
    # The gateway's own endpoints: aggregated reads and the activity feed. No proxy prefix covers
    # their paths; registered after the proxy routes, so the fast path has no route before the
    # proxy's to try on each request (FastAPI's included routers are opaque to it).
    app.include_router(dashboard.router)
    app.include_router(activity_api.router)
    # Proxied requests skip FastAPI's own layers, its router and endpoint wrapping; they pass
    # through the same middleware as every other request (kommune_gateway.fast_path).
    app.fast_path = FastPath(table, endpoint, proxy_routes, PROXY_METHODS)

    install_runtime(
        app,
        service_name=settings.service_name,
        max_body_bytes=settings.max_body_bytes,
        body_limits=table.body_limits(settings.max_body_bytes),
        limits=server_limits(settings),
    )
    app.add_exception_handler(GatewayProblem, _gateway_problem)
    if settings.cors_allow_origins:
        # Outermost, so a preflight is answered before any token check. Closed by default.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=PROXY_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=settings.cors_max_age_seconds,
        )
    return app


async def _gateway_problem(request: Request, exc: Exception) -> Response:
    """Like every domain error, plus the problem's own headers (``Retry-After``, ``RateLimit``)."""
    assert isinstance(exc, GatewayProblem)
    return problem_response(
        exc.status_code,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _no_reset(connection: asyncpg.Connection) -> None:
    return None


async def _check_database(database: asyncpg.Pool) -> CheckResult:
    try:
        await database.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return {"status": "fail", "error": type(exc).__name__}
    return {"status": "ok"}


async def _housekeeping(
    idempotency: IdempotencyStore, limiter: RateLimiter | None, every: float = 60.0
) -> None:
    """Delete expired idempotency records and rate-limit windows (every replica; harmless)."""
    while True:
        await asyncio.sleep(every)
        try:
            await idempotency.expire()
            if limiter is not None:
                await limiter.expire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("housekeeping_failed", error=type(exc).__name__)


async def _check_upstream(pool: UpstreamPool, name: str) -> CheckResult:
    try:
        response = await pool.client(name).get("/readyz", timeout=1.0)
    except httpx.HTTPError as exc:
        return {"status": "fail", "error": type(exc).__name__}
    if response.status_code != 200:
        return {"status": "fail", "http_status": response.status_code}
    return {"status": "ok"}


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # ``uvicorn kommune_gateway.main:app`` builds the app from the environment on first access.
    global _app
    if name == "app":
        if _app is None:
            _app = create_gateway_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
