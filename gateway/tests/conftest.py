"""Real servers for the gateway tests: upstreams and the gateway itself, each a uvicorn server.

* ``ideas`` — a real Kommune service built with ``create_service_app`` (real PostgreSQL, token
  verification via discovery against the in-process dev issuer) with endpoints that echo headers,
  count streamed uploads, stream downloads and stall;
* ``egov`` — a second FastAPI service with an Open311-like public read endpoint and a schema
  whose name clashes with one of ``ideas`` (for the OpenAPI merge);
* ``documents`` points at a closed port (down), ``sensors`` is not deployed (empty URL).

All run in this process and event loop, so tests can coordinate with the upstreams (events) to
prove that bodies stream instead of being buffered.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.auth.principal import CurrentPrincipal
from kommune.migrations import upgrade
from kommune.settings import ServiceSettings
from kommune.testing.auth import TEST_ISSUER_URL
from kommune.testing.servers import RunningServer
from kommune_gateway.main import create_gateway_app
from kommune_gateway.settings import GatewaySettings

MiB = 1024 * 1024


@dataclass
class Signals:
    """Shared between the upstreams and the tests (same process, same event loop)."""

    upload_started: asyncio.Event = field(default_factory=asyncio.Event)
    download_first_chunk_seen: asyncio.Event = field(default_factory=asyncio.Event)
    requests_seen: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.upload_started = asyncio.Event()
        self.download_first_chunk_seen = asyncio.Event()
        self.requests_seen.clear()


SIGNALS = Signals()


# -- upstream: ideas (a real Kommune service) ---------------------------------------------------


class Item(BaseModel):
    """Deliberately the same name as egov's ``Item`` with other fields."""

    title: str
    votes: int


ideas_router = APIRouter(prefix="/api/v1/ideas", tags=["ideas"])


@ideas_router.get("/echo")
async def echo(request: Request) -> dict[str, Any]:
    SIGNALS.requests_seen.append(request.url.path)
    return {
        "path": request.url.path,
        "query": request.url.query,
        "headers": dict(request.headers.items()),
    }


@ideas_router.get("/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    SIGNALS.requests_seen.append("/api/v1/ideas/whoami")
    return {"sub": principal.sub, "roles": sorted(principal.roles)}


@ideas_router.post("/items", status_code=201)
async def create_item(item: Item, principal: CurrentPrincipal) -> Item:
    return item


@ideas_router.post("/upload")
async def upload(request: Request) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    chunks = 0
    async for chunk in request.stream():
        if chunk and not SIGNALS.upload_started.is_set():
            SIGNALS.upload_started.set()
        digest.update(chunk)
        size += len(chunk)
        chunks += 1 if chunk else 0
    return {"size": size, "sha256": digest.hexdigest(), "chunks": chunks}


@ideas_router.get("/download")
async def download(size: int = 1 * MiB, wait: bool = False) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        chunk = b"k" * (64 * 1024)
        sent = 0
        first = True
        while sent < size:
            piece = chunk[: size - sent]
            sent += len(piece)
            yield piece
            if first and wait:
                first = False
                # Only continues once the *client* has the first chunk: a buffering proxy
                # would wait for the whole body and never get here.
                await asyncio.wait_for(SIGNALS.download_first_chunk_seen.wait(), 10)

    return StreamingResponse(body(), media_type="application/octet-stream")


@ideas_router.get("/slow")
async def slow(seconds: float = 3.0) -> dict[str, str]:
    await asyncio.sleep(seconds)
    return {"status": "late"}


@ideas_router.get("/cookie")
async def cookie() -> Any:
    from fastapi.responses import JSONResponse

    response = JSONResponse({"ok": True})
    response.set_cookie("session", "user-specific")
    response.set_cookie("other", "value")
    return response


# -- upstream: egov (a plain FastAPI app) -------------------------------------------------------


class Egov:
    class Item(BaseModel):
        """Same component name as ideas' ``Item``, different definition."""

        service_code: str
        description: str


def egov_app() -> FastAPI:
    app = FastAPI(title="egov")
    router = APIRouter()

    @router.get("/open311/services", tags=["open311"])
    async def services() -> list[Egov.Item]:
        return [Egov.Item(service_code="001", description="Schlagloch")]

    @router.post("/open311/requests", tags=["open311"])
    async def post_request(item: Egov.Item) -> Egov.Item:
        return item

    @router.get("/api/v1/egov/applications", tags=["applications"])
    async def applications(request: Request) -> dict[str, Any]:
        return {"authorization": request.headers.get("authorization")}

    @router.get("/internal/not-routed")
    async def not_routed() -> dict[str, str]:
        return {"never": "through the gateway"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    return app


# -- servers ------------------------------------------------------------------------------------


_HELD_CLOSED: list[socket.socket] = []


def closed_port_url() -> str:
    """A URL whose port refuses connections for the whole session.

    The port stays bound (without ``listen``) by this process: a port that was merely free a
    moment ago can be taken by any other socket on a busy machine, or even be chosen as the source
    port of the very connection attempt (a TCP self-connect), and the test would flake.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD_CLOSED.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def signals() -> Signals:
    return SIGNALS


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ideas_upstream(
    create_database: Any, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[RunningServer]:
    database_url = await create_database("gateway_ideas")
    settings = ServiceSettings.model_validate(
        {
            "service_name": "ideas",
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
            "database_url": database_url,
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "relay_enabled": False,
            "consumers_enabled": False,
        }
    )
    app = create_service_app(
        settings,
        title="ideas",
        routers=[ideas_router],
        http_transport=issuer_transport,
        body_limits={"/api/v1/ideas/upload": 256 * MiB},
    )
    server = await RunningServer(app).start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def egov_upstream() -> AsyncIterator[RunningServer]:
    server = await RunningServer(egov_app()).start()
    yield server
    await server.stop()


GATEWAY_ALEMBIC = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway_database(create_database: Any) -> str:
    """One migrated ``gateway`` database for the session (the replicas of a test share it)."""
    url: str = await create_database("gateway")
    await upgrade(GATEWAY_ALEMBIC, url)
    return url


def gateway_settings(database_url: str, /, **values: Any) -> GatewaySettings:
    base: dict[str, Any] = {
        "database_url": database_url,
        "KOMMUNE_ENVIRONMENT": "test",
        "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
        "KOMMUNE_LOG_JSON": True,
        "upstream_ideas": "",
        "upstream_documents": "",
        "upstream_egov": "",
        "upstream_sensors": "",
        "openapi_cache_seconds": 0,
        # The activity feed's consumer is tested against the real broker in tests/e2e.
        "consumers_enabled": False,
    }
    base.update(values)
    return GatewaySettings.model_validate(base)


@pytest.fixture(scope="session")
def gateway_settings_factory(gateway_database: str) -> Any:
    return functools.partial(gateway_settings, gateway_database)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(
    ideas_upstream: RunningServer,
    egov_upstream: RunningServer,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_database: str,
) -> AsyncIterator[RunningServer]:
    settings = gateway_settings(
        gateway_database,
        upstream_ideas=ideas_upstream.url,
        upstream_egov=egov_upstream.url,
        upstream_documents=closed_port_url(),
        upstream_read_timeout=1.0,
        max_body_bytes=8 * MiB,
        # The down documents upstream must keep answering 502 here (breaker: test_resilience).
        breaker_threshold=1000,
    )
    app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
    server = await RunningServer(app).start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def client(gateway: RunningServer, signals: Signals) -> AsyncIterator[httpx.AsyncClient]:
    signals.reset()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as c:
        yield c
