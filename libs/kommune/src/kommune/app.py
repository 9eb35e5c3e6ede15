"""The service application factory: every Kommune service is built the same way.

``create_service_app`` wires the pieces of the shared runtime around a service's routers: problem
responses, request context and logs, metrics, health probes, the database engine, token
verification, topic declarations, the outbox relay and the service's consumers. Their lifetimes
are tied to the application's lifespan; per-request state reaches handlers via ``request.state``.

Applications without a database (the gateway) use :func:`install_runtime` for the HTTP-side
pieces and build their own lifespan.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any, TypedDict

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kommune.auth.verifier import TokenVerifier
from kommune.db import asyncpg_dsn, create_engine, create_sessionmaker
from kommune.docs import install_docs
from kommune.errors import install_problem_handlers
from kommune.events.consumer import ConsumerRunner, ConsumerSpec, check_inbox_retention
from kommune.events.relay import OutboxRelay
from kommune.events.topics import TopicProvisioner, TopicSpec
from kommune.health import HealthChecks, health_router
from kommune.openapi import install_problem_openapi
from kommune.serve import ServerLimits
from kommune.settings import ServiceSettings
from kommune.telemetry.logging import configure_logging
from kommune.telemetry.middleware import BodySizeLimitMiddleware, RequestContextMiddleware

ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any] | None]]
"""A service's own startup/shutdown; what it yields is merged into the lifespan state."""

OIDC_HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class ServiceState(TypedDict):
    """Lifespan state, copied into every ``request.state``."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    token_verifier: TokenVerifier
    health: HealthChecks


NO_FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's native OpenTelemetry bridge, off: the request context (:mod:`kommune.telemetry`)
carries the W3C trace context into logs, upstream calls and events, and Prometheus has the
metrics. With the bridge on, FastAPI looked up three global OpenTelemetry providers on every
request to find out that none was configured (bench/bench_gateway.py, cProfile)."""


def freeze_startup_objects() -> None:
    """Take everything alive after startup out of the cyclic garbage collector's work.

    Modules, the app and its routes, pydantic and SQLAlchemy metadata: ~150,000 objects that
    live as long as the process, which every full (generation 2) collection walked again. A full
    collection took ~90 ms on the 2-core machine and came about once per 1,200 requests, so about
    one request in a thousand waited 90-100 ms for it (6,000 in-process ideas list requests: 5
    above 50 ms, max 100 ms; with the freeze none above 7 ms, mean -0.1 ms, full collections
    0.25 ms). The collect first keeps startup garbage from being frozen; the lifespan unfreezes
    on shutdown.
    """
    gc.collect()
    gc.freeze()


def oidc_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The HTTP client for OIDC discovery and JWKS (``transport`` routes it in tests)."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=OIDC_HTTP_TIMEOUT,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=2),
        follow_redirects=False,
    )


def server_limits(settings: ServiceSettings) -> ServerLimits:
    """The limits :mod:`kommune.serve` enforces for this service (its ``<PREFIX>_HTTP_*``)."""
    return ServerLimits(
        header_timeout=settings.http_header_timeout,
        body_timeout=settings.http_body_timeout,
        max_header_bytes=settings.http_max_header_bytes,
        max_header_count=settings.http_max_header_count,
        keep_alive_timeout=settings.http_keep_alive_timeout,
        metrics_port=settings.metrics_port,
    )


def install_runtime(
    app: FastAPI,
    *,
    service_name: str,
    max_body_bytes: int,
    body_limits: Mapping[str, int] | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Problem handlers (and their OpenAPI documentation), ``/healthz``/``/readyz`` and the
    pure ASGI middleware.

    ``/readyz`` expects a :class:`HealthChecks` at ``request.state.health`` (lifespan state).
    ``body_limits`` maps path prefixes to their own body size limit (e.g. upload endpoints).
    ``limits`` (``app.state.server_limits``) is what :mod:`kommune.serve` enforces before the
    app sees a request, and where it serves ``/metrics`` (never on the public listener).
    """
    app.state.server_limits = limits or ServerLimits()
    install_problem_handlers(app)
    install_problem_openapi(app)
    app.include_router(health_router)
    # add_middleware prepends: the last one added is the outermost. Request context wraps the
    # size limit so that a 413 is counted, logged and carries the request id.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=max_body_bytes,
        path_limits=tuple((body_limits or {}).items()),
    )
    app.add_middleware(RequestContextMiddleware, service=service_name)


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    version: str = "0.1.0",
    routers: Sequence[APIRouter] = (),
    topics: Sequence[TopicSpec] = (),
    consumers: Sequence[ConsumerSpec] = (),
    http_transport: httpx.AsyncBaseTransport | None = None,
    configure: Callable[[FastAPI], None] | None = None,
    lifespan: ExtraLifespan | None = None,
    body_limits: Mapping[str, int] | None = None,
    kafka_required_for_readiness: bool = False,
) -> FastAPI:
    """Build a service.

    ``http_transport`` routes the token verifier's OIDC discovery and JWKS requests; tests pass
    the ``issuer_transport`` fixture (an in-process dev issuer), production leaves it ``None``.
    ``lifespan`` is the service's own startup/shutdown, entered after the runtime's (database,
    topics) and left before it; ``body_limits`` maps path prefixes to larger (or smaller) body
    limits than ``settings.max_body_bytes``.
    """
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    settings.cursor_key  # noqa: B018 - fails closed: no service starts without its cursor key

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Again at startup: a server that configured logging after the app was built wins
        # otherwise (uvicorn.run(app) does).
        configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
        async with AsyncExitStack() as stack:
            engine = create_engine(
                settings.database_url,
                pool_size=settings.database_pool_size,
                application_name=settings.service_name,
            )
            stack.push_async_callback(engine.dispose)
            sessionmaker = create_sessionmaker(engine)
            http = oidc_http_client(http_transport)
            stack.push_async_callback(http.aclose)
            verifier = await stack.enter_async_context(TokenVerifier.from_settings(settings, http))
            health = HealthChecks(
                engine=engine,
                kafka_bootstrap=settings.kafka_bootstrap_servers,
                kafka_required=kafka_required_for_readiness,
            )
            health.add_check("oidc", verifier.readiness, required=not verifier.configured)
            stack.push_async_callback(health.aclose)

            inbox_retention = check_inbox_retention(
                timedelta(days=settings.inbox_retention_days), consumers, topics
            )
            # Kafka may be down: topics (and the consumer groups' dead-letter topics) are
            # ensured in the background, the readiness check "topics" names what is missing,
            # and the relay and the consumers wait for them.
            provisioner = TopicProvisioner(
                settings.kafka_bootstrap_servers,
                [*topics, *(dlq for spec in consumers for dlq in spec.dead_letter_topics())],
                prefix=settings.kafka_topic_prefix,
            )
            await provisioner.start()
            stack.push_async_callback(provisioner.stop)
            if topics:
                health.add_check("topics", provisioner.check, required=kafka_required_for_readiness)
            if settings.relay_enabled:
                relay = OutboxRelay(
                    engine=engine,
                    dsn=asyncpg_dsn(settings.relay_database_url or settings.database_url),
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    service_name=settings.service_name,
                    topic_prefix=settings.kafka_topic_prefix,
                    publish_timeout=settings.outbox_publish_timeout_seconds,
                    park_after_attempts=settings.outbox_park_after_attempts,
                    topics_ready=provisioner.ready,
                )
                await relay.start()
                stack.push_async_callback(relay.stop)
                health.add_check("outbox", relay.check, required=False, cache_seconds=5.0)
            if settings.consumers_enabled:
                for spec in consumers:
                    runner = ConsumerRunner(
                        spec,
                        sessionmaker=sessionmaker,
                        bootstrap_servers=settings.kafka_bootstrap_servers,
                        topic_prefix=settings.kafka_topic_prefix,
                        inbox_retention=inbox_retention,
                        topics_ready=provisioner.ready,
                    )
                    await runner.start()
                    stack.push_async_callback(runner.stop)

            state: ServiceState = {
                "settings": settings,
                "engine": engine,
                "sessionmaker": sessionmaker,
                "token_verifier": verifier,
                "health": health,
            }
            merged: dict[str, Any] = dict(state)
            if lifespan is not None:
                extra = await stack.enter_async_context(lifespan(app))
                if extra:
                    merged.update(extra)
            freeze_startup_objects()
            stack.callback(gc.unfreeze)
            yield merged

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=app_lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=NO_FASTAPI_TELEMETRY,
    )
    install_docs(app, title=title)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    # Last, so the runtime's middleware wraps anything ``configure`` added.
    install_runtime(
        app,
        service_name=settings.service_name,
        max_body_bytes=settings.max_body_bytes,
        body_limits=body_limits,
        limits=server_limits(settings),
    )
    return app


def lazy_app(factory: Callable[[], FastAPI]) -> Callable[[str], FastAPI]:
    """A module ``__getattr__`` that builds ``app`` from the environment on first access.

    ``<module>.main:app`` is what the server imports; building it at import time would make
    every import of the module (tests, tools) need production settings, which fail closed (e.g.
    no cursor secret). Built lazily, a production server without them still fails at start.
    Usage in a service's ``main.py``: ``__getattr__ = lazy_app(create_app)``.
    """

    def module_getattr(name: str) -> FastAPI:
        if name == "app":
            return factory()
        raise AttributeError(name)

    return module_getattr
