"""Limits at the edge, probed with raw sockets against the real gateway under uvicorn.

The gateway here has a small upstream pool (20 connections), so that exhausting it would take
only a few stalled requests; see docs/adr/0009-limits-at-the-edge.md.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.auth import TokenFactory
from kommune.testing.servers import RunningServer, raw_exchange, status_of
from kommune_gateway.main import create_gateway_app
from kommune_gateway.proxy import CallerLimiter

MiB = 1024 * 1024
POOL = 20
PER_CALLER = 8
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 3.0


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def edge_gateway(
    ideas_upstream: RunningServer,
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
) -> AsyncIterator[RunningServer]:
    settings = gateway_settings_factory(
        upstream_ideas=ideas_upstream.url,
        upstream_max_connections=POOL,
        upstream_pool_timeout=0.5,
        max_requests_per_caller=PER_CALLER,
        http_header_timeout=HEADER_TIMEOUT,
        http_body_timeout=BODY_TIMEOUT,
        max_body_bytes=256 * MiB,
    )
    app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
    async with RunningServer(app) as server:
        yield server


async def _stall(port: int, authorization: str, declared: int, sent: bytes) -> tuple[Any, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/ideas/upload HTTP/1.1\r\nHost: gateway\r\n"
        + f"Authorization: {authorization}\r\nContent-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    await writer.drain()
    return reader, writer


async def _status(reader: asyncio.StreamReader) -> int:
    line = await reader.readline()
    return int(line.split(b" ", 2)[1]) if line else 0


async def _other_users_get(gateway: RunningServer, token: TokenFactory) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        start = loop.time()
        response = await client.get(
            "/api/v1/ideas/echo", headers={"Authorization": token(sub="someone-else")}
        )
        return response.status_code, loop.time() - start


async def _collect(tasks: list[asyncio.Task[int]], count: int) -> list[int]:
    """The statuses of the first ``count`` tasks to finish."""
    statuses = []
    async with asyncio.timeout(20):
        for finished in asyncio.as_completed(tasks):
            statuses.append(await finished)
            if len(statuses) == count:
                break
    return statuses


async def test_250_stalled_uploads_of_one_citizen_starve_nobody(
    edge_gateway: RunningServer, token: TokenFactory
) -> None:
    citizen = token(sub="citizen-1", roles=["citizen"])
    connections = [await _stall(edge_gateway.port, citizen, 1000, b"x") for _ in range(250)]
    tasks = [asyncio.create_task(_status(reader)) for reader, _ in connections]
    try:
        # Everything beyond the per-caller limit is refused at once ...
        refused = await _collect(tasks, 250 - PER_CALLER)
        assert set(refused) == {429}
        # ... and while the rest still stall, another user is served at once.
        status, seconds = await _other_users_get(edge_gateway, token)
        assert status == 200
        assert seconds < 1.0
        async with httpx.AsyncClient(base_url=edge_gateway.url) as client:
            also_refused = await client.get(
                "/api/v1/ideas/echo", headers={"Authorization": citizen}
            )
            assert also_refused.status_code == 429
            assert also_refused.headers["content-type"] == "application/problem+json"
            assert also_refused.headers["retry-after"] == "1"
            assert also_refused.json()["code"] == "too_many_requests"
            # The stalled ones are answered 408 and closed at the body deadline ...
            stalled = await asyncio.wait_for(asyncio.gather(*tasks), BODY_TIMEOUT + 5)
            assert stalled.count(408) == PER_CALLER
            # ... which gives the citizen their slots back (once the app saw the disconnects).
            callers: CallerLimiter = edge_gateway.server.lifespan.state["callers"]
            async with asyncio.timeout(5):
                # A real condition, polled: the limiter has no notification of its own.
                while callers.in_flight("sub:citizen-1"):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            again = await client.get("/api/v1/ideas/echo", headers={"Authorization": citizen})
            assert again.status_code == 200
    finally:
        for task in tasks:
            task.cancel()
        for _, writer in connections:
            writer.close()


async def test_stalled_small_uploads_of_many_callers_hold_no_upstream_connection(
    edge_gateway: RunningServer, token: TokenFactory
) -> None:
    """The body (< 64 KiB) is read before an upstream connection is taken."""
    connections = [
        await _stall(edge_gateway.port, token(sub=f"caller-{i}", roles=["citizen"]), 1000, b"x")
        for i in range(5 * POOL)
    ]
    try:
        status, seconds = await _other_users_get(edge_gateway, token)
        assert status == 200
        assert seconds < 1.0
    finally:
        for _, writer in connections:
            writer.close()


async def test_stalled_large_uploads_of_one_caller_hold_at_most_its_share(
    edge_gateway: RunningServer, token: TokenFactory
) -> None:
    """Over the buffer, a body streams (an upstream connection per upload), bounded per caller."""
    caller = token(sub="uploader", roles=["staff"])
    chunk = b"z" * (128 * 1024)
    connections = [await _stall(edge_gateway.port, caller, 4 * MiB, chunk) for _ in range(3 * POOL)]
    tasks = [asyncio.create_task(_status(reader)) for reader, _ in connections]
    try:
        refused = await _collect(tasks, 3 * POOL - PER_CALLER)
        assert set(refused) == {429}
        status, seconds = await _other_users_get(edge_gateway, token)
        assert status == 200
        assert seconds < 1.0
    finally:
        for task in tasks:
            task.cancel()
        for _, writer in connections:
            writer.close()


async def test_half_sent_headers_are_closed_at_the_deadline(edge_gateway: RunningServer) -> None:
    response, seconds = await raw_exchange(
        edge_gateway.port, b"GET /api/v1/ideas HTTP/1.1\r\nHost: gateway\r\nAuthor"
    )
    assert status_of(response) == 408
    assert HEADER_TIMEOUT * 0.5 <= seconds < HEADER_TIMEOUT + 1.0


async def test_a_1_mb_header_is_431_before_any_token_check(edge_gateway: RunningServer) -> None:
    request = b"GET /api/v1/ideas HTTP/1.1\r\nHost: gateway\r\nX-Big: " + b"a" * MiB + b"\r\n\r\n"
    response, _ = await raw_exchange(edge_gateway.port, request)
    assert status_of(response) == 431
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert body["code"] == "request_header_fields_too_large"


async def test_many_headers_are_431(edge_gateway: RunningServer) -> None:
    fields = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    response, _ = await raw_exchange(
        edge_gateway.port, b"GET /api/v1/ideas HTTP/1.1\r\nHost: gateway\r\n" + fields + b"\r\n"
    )
    assert status_of(response) == 431


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident memory (client, gateway and upstream all live here)."""

    def __init__(self) -> None:
        self.baseline = _rss_bytes()
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, _rss_bytes())
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


async def test_200_mb_streams_both_ways_with_flat_memory(
    edge_gateway: RunningServer, token: TokenFactory
) -> None:
    size = 200 * MiB
    chunk = b"u" * (256 * 1024)
    auth = {"Authorization": token(sub="big-transfers")}

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(chunk)):
            yield chunk

    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=60) as client:
        async with PeakRss() as upload_memory:
            upload = await client.post("/api/v1/ideas/upload", content=body(), headers=auth)
        assert upload.status_code == 200, upload.text
        assert upload.json()["size"] == size

        received = 0
        async with (
            PeakRss() as download_memory,
            client.stream("GET", f"/api/v1/ideas/download?size={size}", headers=auth) as download,
        ):
            assert download.status_code == 200
            async for piece in download.aiter_raw():
                received += len(piece)
        assert received == size
    assert upload_memory.growth < 48 * MiB, upload_memory.growth
    assert download_memory.growth < 48 * MiB, download_memory.growth


async def test_a_200_mb_upload_with_an_idempotency_key_keeps_memory_flat(
    edge_gateway: RunningServer, token: TokenFactory
) -> None:
    """The body is hashed as it streams (never held) and only the small answer is stored."""
    size = 200 * MiB
    chunk = b"i" * (256 * 1024)
    headers = {"Authorization": token(sub="big-keyed"), "Idempotency-Key": os.urandom(8).hex()}

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(chunk)):
            yield chunk

    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=60) as client:
        async with PeakRss() as memory:  # the first upload, and its replay (hashed, dropped)
            first = await client.post("/api/v1/ideas/upload", content=body(), headers=headers)
            again = await client.post("/api/v1/ideas/upload", content=body(), headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["size"] == size
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
    assert memory.growth < 48 * MiB, memory.growth
