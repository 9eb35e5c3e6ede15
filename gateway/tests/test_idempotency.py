"""``Idempotency-Key`` on POST, through two gateway replicas sharing one PostgreSQL database.

The upstream counts what it creates, so "nothing new was created" is checked where it happens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kommune.auth.dev_issuer import DevIssuer
from kommune.db import asyncpg_dsn
from kommune.testing.auth import TokenFactory
from kommune.testing.servers import RunningServer

from .conftest import closed_port_url
from .test_gateway import assert_problem

MiB = 1024 * 1024


@dataclass
class Ledger:
    created: list[dict[str, Any]] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event = field(default_factory=asyncio.Event)
    fail_next: int = 0

    def count(self, marker: str) -> int:
        return sum(1 for item in self.created if item.get("marker") == marker)


LEDGER = Ledger()


def ledger_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/ideas/things")
    async def create(request: Request, hold: bool = False) -> Response:
        body = await request.body()
        if hold:
            LEDGER.entered.set()
            await asyncio.wait_for(LEDGER.proceed.wait(), 10)
        if LEDGER.fail_next:
            LEDGER.fail_next -= 1
            return JSONResponse({"error": "overloaded"}, status_code=503)
        marker = request.headers.get("x-marker", "")
        thing = {"id": str(uuid.uuid4()), "marker": marker, "size": len(body)}
        LEDGER.created.append(thing)
        return JSONResponse(
            thing,
            status_code=201,
            headers={"Location": f"/api/v1/ideas/things/{thing['id']}", "Set-Cookie": "a=b"},
        )

    @app.post("/api/v1/ideas/empty")
    async def empty() -> Response:
        LEDGER.created.append({"marker": "empty"})
        return Response(status_code=204)

    return app


@dataclass
class Replicas:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    database_url: str


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def replicas(
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
    gateway_database: str,
) -> AsyncIterator[Replicas]:
    from kommune_gateway.main import create_gateway_app

    async with RunningServer(ledger_app()) as upstream:
        servers = []
        for _ in range(2):
            settings = gateway_settings_factory(
                upstream_ideas=upstream.url, proxy_buffer_bytes=1024, max_body_bytes=8 * MiB
            )
            app = create_gateway_app(
                settings, http_transport=issuer_transport, dev_issuer=dev_issuer
            )
            servers.append(await RunningServer(app).start())
        try:
            async with (
                httpx.AsyncClient(base_url=servers[0].url, timeout=20) as a,
                httpx.AsyncClient(base_url=servers[1].url, timeout=20) as b,
            ):
                yield Replicas(a, b, gateway_database)
        finally:
            for server in servers:
                await server.stop()


def headers(token: TokenFactory, key: str, marker: str, sub: str = "idem-user") -> dict[str, str]:
    return {"Authorization": token(sub=sub), "Idempotency-Key": key, "X-Marker": marker}


async def test_a_replayed_key_returns_the_first_answer_and_creates_nothing_new(
    replicas: Replicas, token: TokenFactory
) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    first = await replicas.a.post(
        "/api/v1/ideas/things", json={"title": "Bank"}, headers=headers(token, key, marker)
    )
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # The other replica, same caller, same key, same body: the stored answer.
    again = await replicas.b.post(
        "/api/v1/ideas/things", json={"title": "Bank"}, headers=headers(token, key, marker)
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert LEDGER.count(marker) == 1

    connection = await asyncpg.connect(asyncpg_dsn(replicas.database_url))
    try:
        kept = await connection.fetchval(
            "SELECT expires_at - created_at FROM idempotency_keys WHERE key = $1", key
        )
    finally:
        await connection.close()
    assert kept.total_seconds() == 24 * 3600


async def test_the_same_key_with_another_body_or_path_is_422(
    replicas: Replicas, token: TokenFactory
) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    first = await replicas.a.post(
        "/api/v1/ideas/things", json={"title": "Bank"}, headers=headers(token, key, marker)
    )
    assert first.status_code == 201
    other_body = await replicas.b.post(
        "/api/v1/ideas/things", json={"title": "Brunnen"}, headers=headers(token, key, marker)
    )
    assert_problem(other_body, 422, "idempotency_key_reused")
    other_path = await replicas.b.post(
        "/api/v1/ideas/empty", json={"title": "Bank"}, headers=headers(token, key, marker)
    )
    assert_problem(other_path, 422, "idempotency_key_reused")
    assert LEDGER.count(marker) == 1
    assert LEDGER.count("empty") == 0


async def test_keys_are_per_caller(replicas: Replicas, token: TokenFactory) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    body = {"title": "Bank"}
    mine = await replicas.a.post(
        "/api/v1/ideas/things", json=body, headers=headers(token, key, marker, sub="alice")
    )
    theirs = await replicas.a.post(
        "/api/v1/ideas/things", json=body, headers=headers(token, key, marker, sub="mallory")
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert LEDGER.count(marker) == 2


async def test_a_second_request_while_the_first_is_in_flight_is_409(
    replicas: Replicas, token: TokenFactory
) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    LEDGER.entered.clear()
    LEDGER.proceed.clear()
    first = asyncio.create_task(
        replicas.a.post(
            "/api/v1/ideas/things?hold=true", json={}, headers=headers(token, key, marker)
        )
    )
    await asyncio.wait_for(LEDGER.entered.wait(), 10)
    second = await replicas.b.post(
        "/api/v1/ideas/things?hold=true", json={}, headers=headers(token, key, marker)
    )
    body = assert_problem(second, 409, "idempotency_in_flight")
    assert second.headers["retry-after"] == "1"
    assert body["upstream"] == "ideas"
    LEDGER.proceed.set()
    assert (await first).status_code == 201
    third = await replicas.b.post(
        "/api/v1/ideas/things?hold=true", json={}, headers=headers(token, key, marker)
    )
    assert third.status_code == 201
    assert third.headers["idempotent-replayed"] == "true"
    assert LEDGER.count(marker) == 1


async def test_a_failed_attempt_is_not_kept_and_may_be_repeated(
    replicas: Replicas, token: TokenFactory
) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    LEDGER.fail_next = 1
    failed = await replicas.a.post(
        "/api/v1/ideas/things", json={}, headers=headers(token, key, marker)
    )
    assert failed.status_code == 503  # the upstream's own answer, POST is never retried
    # The key was released (by a task of its own): wait for it, then the retry executes.
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        retry = await replicas.b.post(
            "/api/v1/ideas/things", json={}, headers=headers(token, key, marker)
        )
        if retry.status_code != 409 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert LEDGER.count(marker) == 1


async def test_an_expired_record_executes_again(replicas: Replicas, token: TokenFactory) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    first = await replicas.a.post(
        "/api/v1/ideas/things", json={}, headers=headers(token, key, marker)
    )
    assert first.status_code == 201
    connection = await asyncpg.connect(asyncpg_dsn(replicas.database_url))
    try:
        await connection.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1",
            key,
        )
    finally:
        await connection.close()
    again = await replicas.b.post(
        "/api/v1/ideas/things", json={}, headers=headers(token, key, marker)
    )
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert LEDGER.count(marker) == 2


async def test_streamed_uploads_are_fingerprinted_too(
    replicas: Replicas, token: TokenFactory
) -> None:
    key, marker = str(uuid.uuid4()), uuid.uuid4().hex
    big = b"x" * (3 * MiB)  # far beyond the replicas' 1 KiB buffer: streamed, hashed on the way
    first = await replicas.a.post(
        "/api/v1/ideas/things", content=big, headers=headers(token, key, marker)
    )
    assert first.status_code == 201
    assert first.json()["size"] == len(big)
    same = await replicas.b.post(
        "/api/v1/ideas/things", content=big, headers=headers(token, key, marker)
    )
    assert same.status_code == 201
    assert same.headers["idempotent-replayed"] == "true"
    changed = await replicas.b.post(
        "/api/v1/ideas/things", content=big[:-1] + b"y", headers=headers(token, key, marker)
    )
    assert_problem(changed, 422, "idempotency_key_reused")
    assert LEDGER.count(marker) == 1


async def test_an_empty_answer_is_replayed_without_a_body(
    replicas: Replicas, token: TokenFactory
) -> None:
    key = str(uuid.uuid4())
    before = LEDGER.count("empty")
    for client in (replicas.a, replicas.b):
        response = await client.post("/api/v1/ideas/empty", headers=headers(token, key, ""))
        assert response.status_code == 204
        assert response.content == b""
    assert LEDGER.count("empty") == before + 1


async def test_bad_keys_are_400_and_change_nothing(replicas: Replicas, token: TokenFactory) -> None:
    marker = uuid.uuid4().hex
    for key in (b"", b"has space", b"k" * 256, "ümlaut".encode()):
        response = await replicas.a.post(
            "/api/v1/ideas/things",
            json={},
            headers={
                b"Authorization": token().encode(),
                b"Idempotency-Key": key,
                b"X-Marker": marker.encode(),
            },
        )
        assert_problem(response, 400, "invalid_idempotency_key")
    assert LEDGER.count(marker) == 0


async def test_without_a_key_every_post_executes(replicas: Replicas, token: TokenFactory) -> None:
    marker = uuid.uuid4().hex
    auth = {"Authorization": token(), "X-Marker": marker}
    for _ in range(2):
        response = await replicas.a.post("/api/v1/ideas/things", json={}, headers=auth)
        assert response.status_code == 201
    assert LEDGER.count(marker) == 2


async def test_without_its_database_a_keyed_post_is_503_and_others_still_pass(
    issuer_transport: httpx.ASGITransport,
    dev_issuer: DevIssuer,
    gateway_settings_factory: Any,
    token: TokenFactory,
) -> None:
    from kommune_gateway.main import create_gateway_app

    marker = uuid.uuid4().hex
    async with RunningServer(ledger_app()) as upstream:
        settings = gateway_settings_factory(
            upstream_ideas=upstream.url,
            database_url=closed_port_url().replace("http://", "postgresql://u:p@") + "/gateway",
        )
        app = create_gateway_app(settings, http_transport=issuer_transport, dev_issuer=dev_issuer)
        async with RunningServer(app) as gateway, httpx.AsyncClient(base_url=gateway.url) as c:
            keyed = await c.post(
                "/api/v1/ideas/things", json={}, headers=headers(token, "k-1", marker)
            )
            body = assert_problem(keyed, 503, "idempotency_unavailable")
            assert body["upstream"] == "ideas"
            # Rate limits fail open: the API stays up without its counters.
            plain = await c.post(
                "/api/v1/ideas/things", json={}, headers={"Authorization": token()}
            )
            assert plain.status_code == 201
            assert "ratelimit-limit" not in plain.headers
            ready = (await c.get("/readyz")).json()
            assert ready["checks"]["database"]["status"] == "fail"
    assert LEDGER.count(marker) == 0
