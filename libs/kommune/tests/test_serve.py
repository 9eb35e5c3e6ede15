"""The edge protocol (kommune.serve) under a real uvicorn, probed with raw sockets.

Every Kommune app is served this way (``python -m kommune.serve``; ``RunningServer`` in tests),
so these limits hold for the gateway and for every service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from starlette.requests import ClientDisconnect
from websockets.asyncio.client import connect

from kommune.app import create_service_app, install_runtime
from kommune.serve import EdgeProtocol, ServerLimits, app_limits, edge_protocol
from kommune.settings import ServiceSettings
from kommune.testing.servers import RunningServer, raw_exchange, status_of

LIMITS = ServerLimits(
    header_timeout=0.6, body_timeout=0.6, max_header_bytes=8 * 1024, max_header_count=40
)


class Seen:
    disconnected: asyncio.Event


SEEN = Seen()


def edge_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
        except ClientDisconnect:
            SEEN.disconnected.set()
            raise
        return {"size": size}

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    install_runtime(app, service_name="edge-test", max_body_bytes=64 * 1024 * 1024, limits=LIMITS)
    return app


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def server() -> AsyncIterator[RunningServer]:
    async with RunningServer(edge_app(), metrics=True) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_signals() -> None:
    SEEN.disconnected = asyncio.Event()


async def exchange(server: RunningServer, *parts: bytes, pause: float = 0.0) -> tuple[bytes, float]:
    return await raw_exchange(server.port, *parts, pause=pause)


def problem_of(response: bytes) -> dict[str, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    result: dict[str, Any] = json.loads(body)
    return result


async def test_half_sent_headers_get_408_within_the_deadline(server: RunningServer) -> None:
    response, elapsed = await exchange(server, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert status_of(response) == 408
    assert problem_of(response)["code"] == "request_timeout"
    # Lower bound loose: the client's clock starts a little after the server's (same loop).
    assert LIMITS.header_timeout * 0.5 <= elapsed < LIMITS.header_timeout + 1.0


async def test_a_trickle_of_header_bytes_does_not_extend_the_deadline(
    server: RunningServer,
) -> None:
    trickle = [b"GET /hello HTTP/1.1\r\n"] + [b"X-A: b\r\n"] * 30
    response, elapsed = await exchange(server, *trickle, pause=0.05)
    assert status_of(response) == 408
    assert elapsed < LIMITS.header_timeout + 1.0


async def test_a_silent_connection_is_closed_without_an_answer(server: RunningServer) -> None:
    response, elapsed = await exchange(server)
    assert response == b""
    assert elapsed < LIMITS.header_timeout + 1.0


async def test_the_next_request_on_a_kept_alive_connection_has_a_deadline_too(
    server: RunningServer,
) -> None:
    first = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    response, elapsed = await exchange(server, first, b"GET /hello HTTP/1.1\r\nHo", pause=0.1)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.count(b"HTTP/1.1 408") == 1
    assert elapsed < LIMITS.header_timeout + 1.0


async def test_a_1_mb_header_is_431(server: RunningServer) -> None:
    big = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    response, _ = await exchange(server, big)
    assert status_of(response) == 431
    assert problem_of(response)["code"] == "request_header_fields_too_large"


async def test_headers_over_the_byte_limit_in_small_fields_are_431(server: RunningServer) -> None:
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 400) for i in range(30))  # 30 x ~410 B
    response, _ = await exchange(server, b"GET /hello HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status_of(response) == 431


async def test_too_many_headers_are_431(server: RunningServer) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(LIMITS.max_header_count + 1))
    response, _ = await exchange(server, b"GET /hello HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status_of(response) == 431
    assert "header fields" in problem_of(response)["detail"]


async def test_headers_within_the_limits_pass(server: RunningServer) -> None:
    fields = b"".join(
        b"X-F%d: %s\r\n" % (i, b"v" * 100) for i in range(LIMITS.max_header_count - 2)
    )
    request = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    response, _ = await exchange(server, request)
    assert status_of(response) == 200


async def test_a_stalled_body_gets_408_and_the_app_sees_a_disconnect(
    server: RunningServer,
) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    response, elapsed = await exchange(server, head + b"x")
    assert status_of(response) == 408
    assert "stalled" in problem_of(response)["detail"]
    assert elapsed < LIMITS.body_timeout + 1.0
    await asyncio.wait_for(SEEN.disconnected.wait(), 5)


async def test_a_slow_but_steady_body_is_not_cut_off(server: RunningServer) -> None:
    """The deadline is per piece of the body, not for the whole upload."""
    pieces = 10
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += b"Content-Length: %d\r\n\r\n" % (pieces * 1000)
    pause = LIMITS.body_timeout / 4
    response, elapsed = await exchange(server, head, *([b"y" * 1000] * pieces), pause=pause)
    assert status_of(response) == 200, response
    assert elapsed > LIMITS.body_timeout * 2  # longer than one deadline in total
    assert response.endswith(b'{"size":10000}')


async def test_metrics_are_on_their_own_listener_only(server: RunningServer) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(LIMITS.max_header_count + 1))
    await exchange(server, b"GET /hello HTTP/1.1\r\n" + fields + b"\r\n")
    async with httpx.AsyncClient() as client:
        public = await client.get(f"{server.url}/metrics")
        private = await client.get(server.metrics_url)
    assert public.status_code == 404
    assert private.status_code == 200
    rejected = [
        line
        for line in private.text.splitlines()
        if line.startswith("kommune_http_connections_rejected_total{")
        and 'reason="request_header_fields_too_large"' in line
    ]
    assert rejected
    assert float(rejected[0].rsplit(" ", 1)[1]) >= 1
    assert 'kommune_http_requests_total{method="GET",route="<unmatched>"' in private.text.replace(
        'service="edge-test",', ""
    )


def test_every_service_carries_its_limits_from_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """create_service_app stores the service's <PREFIX>_HTTP_* settings for the server."""

    class ThingsSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="THINGS_", extra="ignore")

    monkeypatch.setenv("KOMMUNE_CURSOR_SECRET", "c" * 32)  # production requires one
    monkeypatch.setenv("THINGS_HTTP_HEADER_TIMEOUT", "3.5")
    monkeypatch.setenv("THINGS_HTTP_MAX_HEADER_COUNT", "50")
    monkeypatch.setenv("THINGS_METRICS_PORT", "9555")
    app = create_service_app(ThingsSettings(), title="things")
    limits = app_limits(app)
    assert limits.header_timeout == 3.5
    assert limits.max_header_count == 50
    assert limits.metrics_port_for(8105) == 9555
    assert ServerLimits().metrics_port_for(8105) == 9105
    assert ServerLimits(metrics_port=0).metrics_port_for(8105) is None


def test_limits_outside_their_bounds_are_refused() -> None:
    for field, value in (("http_max_header_bytes", 10), ("http_header_timeout", 0)):
        with pytest.raises(ValidationError, match=field):
            ServiceSettings.model_validate({field: value})


async def test_an_upgraded_websocket_outlives_the_deadlines(server: RunningServer) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/echo") as websocket:
        await websocket.send("first")
        assert await websocket.recv() == "first"
        # Quiet for longer than both deadlines: an HTTP deadline must not cut the WebSocket.
        await asyncio.sleep(LIMITS.header_timeout + LIMITS.body_timeout)
        await websocket.send("still here")
        assert await websocket.recv() == "still here"


@pytest.mark.parametrize(
    "request_bytes",
    [
        # Both framings: a proxy and a server could disagree where the body ends (smuggling).
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    ],
    ids=["cl-and-te", "two-cl", "nul-in-header", "obs-fold"],
)
async def test_malformed_http_is_a_400_problem_and_never_reaches_the_app(
    server: RunningServer, request_bytes: bytes
) -> None:
    response, _ = await exchange(server, request_bytes)
    assert status_of(response) == 400
    assert problem_of(response)["code"] == "bad_request"
    assert response.count(b"HTTP/1.1 ") == 1  # nothing else answered


class WriteCounter:
    """Every write the server makes on a connection, in order (wraps the real transport)."""

    writes: ClassVar[list[bytes]] = []

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WriteCounter.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def counting_protocol() -> type[EdgeProtocol]:
    base = edge_protocol(LIMITS)

    class Counting(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(WriteCounter(transport))

    return Counting


def writes_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/sized", methods=["GET", "HEAD"])
    async def sized() -> dict[str, str]:
        return {"answer": "x" * 100}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            yield b"first"
            yield b"second"

        return StreamingResponse(pieces())

    @app.get("/too-long")
    async def too_long() -> Response:
        return Response(b"12345", headers={"content-length": "2"})

    install_runtime(app, service_name="writes-test", max_body_bytes=1024, limits=LIMITS)
    return app


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def counted() -> AsyncIterator[RunningServer]:
    running = RunningServer(writes_app())
    running.server.config.http = counting_protocol()
    async with running:
        yield running


def closing(method: str, path: str) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()


async def writes_for(server: RunningServer, request: bytes) -> list[bytes]:
    WriteCounter.writes = []
    response, _ = await exchange(server, request)
    assert b"".join(WriteCounter.writes) == response  # nothing lost, nothing reordered
    return WriteCounter.writes


async def test_a_sized_response_goes_out_in_one_write(counted: RunningServer) -> None:
    """Head and body together: the client (or the gateway, a service's client) wakes once."""
    writes = await writes_for(counted, closing("GET", "/sized"))
    assert len(writes) == 1
    assert status_of(writes[0]) == 200
    assert writes[0].endswith(b'"}')


async def test_a_head_request_gets_its_head_in_one_write(counted: RunningServer) -> None:
    writes = await writes_for(counted, closing("HEAD", "/sized"))
    assert len(writes) == 1
    assert writes[0].endswith(b"\r\n\r\n")
    assert b"content-length: 113" in writes[0].lower()  # the length a GET gets, no body


async def test_a_stream_gets_its_head_at_once(counted: RunningServer) -> None:
    """No length: the head is not held back for a body that may take its time (SSE)."""
    writes = await writes_for(counted, closing("GET", "/stream"))
    assert writes[0].endswith(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in writes[0].lower()
    assert len(writes) >= 3  # head, the pieces, the end


async def test_a_kept_alive_connection_answers_each_request_whole(counted: RunningServer) -> None:
    request = b"GET /sized HTTP/1.1\r\nHost: t\r\n\r\n"
    writes = await writes_for(counted, request + request + closing("GET", "/sized"))
    assert len(writes) == 3
    assert all(status_of(write) == 200 and write.endswith(b'"}') for write in writes)


async def test_a_body_longer_than_its_length_sends_nothing_half(counted: RunningServer) -> None:
    """The app broke its own Content-Length: the connection closes, no head goes out alone."""
    writes = await writes_for(counted, b"GET /too-long HTTP/1.1\r\nHost: t\r\n\r\n")
    assert writes == []
