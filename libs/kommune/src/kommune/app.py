"""The service application factory: every Kommune service is built the same way.

``create_service_app`` wires the pieces of the shared runtime around a service's routers: problem
responses, request context and logs, metrics, health probes, the database engine, token
verification, topic declarations, the outbox relay and the service's consumers. Their lifetimes
are tied to the application's lifespan; per-request state reaches handlers via ``request.state``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypedDict

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kommune.auth.verifier import TokenVerifier
from kommune.db import asyncpg_dsn, create_engine, create_sessionmaker
from kommune.errors import install_problem_handlers
from kommune.events.consumer import ConsumerRunner, ConsumerSpec
from kommune.events.relay import OutboxRelay
from kommune.events.topics import TopicSpec, ensure_topics
from kommune.health import HealthChecks, health_router
from kommune.settings import ServiceSettings
from kommune.telemetry.logging import configure_logging
from kommune.telemetry.metrics import metrics_router
from kommune.telemetry.middleware import BodySizeLimitMiddleware, RequestContextMiddleware


class ServiceState(TypedDict):
    """Lifespan state, copied into every ``request.state``."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    token_verifier: TokenVerifier
    health: HealthChecks


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
) -> FastAPI:
    """Build a service.

    ``http_transport`` lets tests route the token verifier's JWKS discovery to an in-process
    issuer; in production it is ``None`` (real network).
    """
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            engine = create_engine(
                settings.database_url,
                pool_size=settings.database_pool_size,
                application_name=settings.service_name,
            )
            stack.push_async_callback(engine.dispose)
            sessionmaker = create_sessionmaker(engine)
            http = httpx.AsyncClient(
                transport=http_transport, timeout=httpx.Timeout(5.0, connect=2.0)
            )
            stack.push_async_callback(http.aclose)
            verifier = TokenVerifier(settings.oidc_issuer, settings.oidc_audience, http)
            health = HealthChecks(engine=engine, kafka_bootstrap=settings.kafka_bootstrap_servers)
            stack.push_async_callback(health.aclose)

            if topics:
                await ensure_topics(settings.kafka_bootstrap_servers, topics)
            if settings.relay_enabled:
                relay = OutboxRelay(
                    engine=engine,
                    dsn=asyncpg_dsn(settings.database_url),
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    service_name=settings.service_name,
                )
                await relay.start()
                stack.push_async_callback(relay.stop)
            if settings.consumers_enabled:
                for spec in consumers:
                    runner = ConsumerRunner(
                        spec,
                        sessionmaker=sessionmaker,
                        bootstrap_servers=settings.kafka_bootstrap_servers,
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
            yield dict(state)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    # Pure ASGI middleware, outermost last.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    return app
