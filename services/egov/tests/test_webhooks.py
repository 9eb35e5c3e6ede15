"""Webhooks: registered by operators, deliveries signed, retried with backoff from the queue in
PostgreSQL (a second dispatcher, as after a restart, delivers what the first left), over real
HTTP to a receiver on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kommune.db import create_engine, create_sessionmaker
from kommune.testing.conditions import wait_until
from kommune.testing.servers import RunningServer
from kommune_egov.webhooks.dispatcher import DispatcherConfig, WebhookDispatcher
from kommune_egov.webhooks.signing import SIGNATURE_HEADER, verify

from .conftest import Api, Cast, Db, Personas, assert_problem

STATUS_CHANGED = "de.kommune.egov.application.status_changed.v1"


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    """Answer that many requests with 503 first."""

    def bodies(self, application_id: str) -> list[dict[str, Any]]:
        found = []
        for _, body in self.received:
            parsed = json.loads(body)
            if parsed["data"].get("application_id") == application_id:
                found.append(parsed)
        return found


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def hook(request: Request) -> Response:
        body = await request.body()
        if state.fail_next > 0:
            state.fail_next -= 1
            return Response(status_code=503)
        state.received.append((dict(request.headers), body))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with RunningServer(app) as server:
        state.url = f"{server.url}/hook"
        yield state


@pytest_asyncio.fixture(loop_scope="session")
async def dispatchers(db: Db) -> AsyncIterator[list[WebhookDispatcher]]:
    """Dispatchers as separate processes would run them (each its own engine)."""
    engine = create_engine(db.url, pool_size=2, application_name="egov-webhook-test")
    made: list[WebhookDispatcher] = []
    config = DispatcherConfig(
        timeout_seconds=5, max_attempts=3, backoff_base_seconds=0.3, allow_private_targets=True
    )
    for _ in range(2):
        made.append(WebhookDispatcher(create_sessionmaker(engine), config))
    yield made
    for dispatcher in made:
        await dispatcher.stop()
    await engine.dispose()


async def register(client: httpx.AsyncClient, people: Personas, url: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "description": "Fachverfahren Hundesteuer"},
        headers=people.operator.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_status_changes_are_delivered_signed_and_retried(
    api: Api,
    cast: Cast,
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    receiver: Receiver,
    dispatchers: list[WebhookDispatcher],
) -> None:
    webhook = await register(client, people, receiver.url)
    secret = webhook["secret"]
    try:
        created = await api.submit()
        await api.move(created["id"], "acknowledged", cast.buergeramt)
        first, second = dispatchers
        # The receiver is down for the first attempt: the delivery waits in the queue.
        receiver.fail_next = 1
        await wait_until(lambda: _attempted(first), deadline=30)
        [row] = await db.rows(
            "SELECT d.status, d.attempts, d.next_attempt_at > now() AS later, d.last_status_code"
            " FROM webhook_deliveries d WHERE d.subscription_id = :id",
            id=uuid.UUID(webhook["id"]),
        )
        assert row == {"status": "pending", "attempts": 1, "later": True, "last_status_code": 503}
        # The first dispatcher is gone (a restart); another one delivers from the queue.
        await first.stop()
        await wait_until(lambda: _delivered(second, db, webhook["id"]), deadline=20)
        [(headers, body)] = [(h, b) for h, b in receiver.received if created["id"] in b.decode()]
        assert verify(secret, headers[SIGNATURE_HEADER.lower()], body)
        assert not verify("another-secret", headers[SIGNATURE_HEADER.lower()], body)
        assert not verify(secret, headers[SIGNATURE_HEADER.lower()], body + b" ")
        payload = json.loads(body)
        assert payload["type"] == STATUS_CHANGED
        assert payload["data"]["to_status"] == "acknowledged"
        assert headers["kommune-event-type"] == STATUS_CHANGED
        # The delivery carries the CloudEvent's id: receivers correlate with the Kafka event.
        assert (
            await db.scalar(
                "SELECT count(*) FROM recorded.outbox WHERE id = :id", id=uuid.UUID(payload["id"])
            )
            == 1
        )
        deliveries = await client.get(
            f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=people.operator.headers
        )
        [delivery] = deliveries.json()["items"]
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == 2
    finally:
        await client.delete(f"/api/v1/webhooks/{webhook['id']}", headers=people.operator.headers)


async def test_a_delivery_that_keeps_failing_gives_up(
    api: Api,
    cast: Cast,
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    dispatchers: list[WebhookDispatcher],
) -> None:
    # Nothing listens on port 9 of loopback (discard): every attempt is a connection error.
    webhook = await register(client, people, "http://127.0.0.1:9/hook")
    try:
        created = await api.submit()
        await api.move(created["id"], "acknowledged", cast.buergeramt)
        dispatcher = dispatchers[1]

        async def failed() -> bool:
            await dispatcher.run_once()
            status = await db.scalar(
                "SELECT status FROM webhook_deliveries WHERE subscription_id = :id",
                id=uuid.UUID(webhook["id"]),
            )
            return bool(status == "failed")

        await wait_until(failed, deadline=20)
        row = (
            await db.rows(
                "SELECT attempts, last_error FROM webhook_deliveries WHERE subscription_id = :id",
                id=uuid.UUID(webhook["id"]),
            )
        )[0]
        assert row["attempts"] == 3
        assert row["last_error"]
    finally:
        await client.delete(f"/api/v1/webhooks/{webhook['id']}", headers=people.operator.headers)


async def _attempted(dispatcher: WebhookDispatcher) -> bool:
    return await dispatcher.run_once() > 0


async def _delivered(dispatcher: WebhookDispatcher, db: Db, webhook_id: str) -> bool:
    await dispatcher.run_once()
    status = await db.scalar(
        "SELECT status FROM webhook_deliveries WHERE subscription_id = :id",
        id=uuid.UUID(webhook_id),
    )
    return bool(status == "delivered")


async def test_only_operators_register_and_urls_are_checked(
    client: httpx.AsyncClient, people: Personas, cast: Cast, db: Db
) -> None:
    before = await db.counts("webhook_subscriptions")
    body = {"url": "https://fachverfahren.example.org/hook"}
    assert_problem(await client.post("/api/v1/webhooks", json=body), 401)
    for persona in (cast.citizen, cast.buergeramt, people.staff, people.nobody):
        assert_problem(
            await client.post("/api/v1/webhooks", json=body, headers=persona.headers), 403
        )
        assert_problem(await client.get("/api/v1/webhooks", headers=persona.headers), 403)
    for bad in (
        {"url": "ftp://example.org/x"},
        {"url": "https://user:pw@example.org/x"},
        {"url": "not a url at all"},
        {"url": "https://example.org/x", "event_types": ["de.kommune.ideas.idea.created.v1"]},
        {"url": "https://example.org/x", "event_types": []},
        {"url": "https://example.org/x", "secret": "mine"},
    ):
        response = await client.post("/api/v1/webhooks", json=bad, headers=people.operator.headers)
        assert_problem(response, 422)
    assert await db.counts("webhook_subscriptions") == before
    assert_problem(
        await client.delete(f"/api/v1/webhooks/{uuid.uuid4()}", headers=people.operator.headers),
        404,
    )
    # The secret is shown once, never listed.
    created = await register(client, people, "https://fachverfahren.example.org/hook")
    listed = await client.get("/api/v1/webhooks", headers=people.admin.headers)
    assert all("secret" not in w for w in listed.json()["items"])
    assert created["id"] in {w["id"] for w in listed.json()["items"]}
    await client.delete(f"/api/v1/webhooks/{created['id']}", headers=people.operator.headers)


async def test_private_targets_are_refused_outside_dev(
    api: Api,
    cast: Cast,
    client: httpx.AsyncClient,
    people: Personas,
    db: Db,
    receiver: Receiver,
) -> None:
    webhook = await register(client, people, receiver.url)
    engine = create_engine(db.url, pool_size=1, application_name="egov-webhook-test")
    production = WebhookDispatcher(
        create_sessionmaker(engine),
        DispatcherConfig(max_attempts=1, backoff_base_seconds=0.1, allow_private_targets=False),
    )
    try:
        created = await api.submit()
        await api.move(created["id"], "acknowledged", cast.buergeramt)
        assert await production.run_once() == 1
        [row] = await db.rows(
            "SELECT status, last_error FROM webhook_deliveries WHERE subscription_id = :id",
            id=uuid.UUID(webhook["id"]),
        )
        assert row["status"] == "failed"
        assert "private address" in row["last_error"]
        assert not receiver.bodies(created["id"])
    finally:
        await production.stop()
        await engine.dispose()
        await client.delete(f"/api/v1/webhooks/{webhook['id']}", headers=people.operator.headers)
