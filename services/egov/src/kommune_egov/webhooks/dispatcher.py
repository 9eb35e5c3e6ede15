"""Sends queued webhook deliveries: signed, retried with exponential backoff, restart-safe.

The queue is the ``webhook_deliveries`` table. A dispatcher claims due rows with ``FOR UPDATE
SKIP LOCKED`` and a lease (committed before it sends, so no transaction stays open during the
HTTP call and replicas never send the same row at once), POSTs the JSON body with
``Kommune-Signature`` (:mod:`kommune_egov.webhooks.signing`), and records the outcome: a 2xx is
``delivered``; anything else waits ``base * 2^(attempts-1)`` (capped at 6 h, ±20 % jitter)
and becomes ``failed`` after the last attempt. A process that dies mid-send leaves a lease that
expires; the row is sent again (receivers deduplicate by ``Kommune-Delivery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.clock import utc_now
from kommune.db import transaction
from kommune_egov.webhooks.models import WebhookDelivery, WebhookSubscription
from kommune_egov.webhooks.service import is_private_address
from kommune_egov.webhooks.signing import SIGNATURE_HEADER, sign

log = structlog.get_logger(__name__)

MAX_BACKOFF = timedelta(hours=6)
LEASE = timedelta(seconds=120)
BATCH = 20

CLAIM = text(
    """
    UPDATE webhook_deliveries SET lease_until = :lease_until, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= :now
          AND (lease_until IS NULL OR lease_until < :now)
        ORDER BY next_attempt_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
    """
)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    delay = min(timedelta(seconds=base_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)
    return delay * random.uniform(0.8, 1.2)


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    poll_seconds: float = 2.0
    allow_private_targets: bool = False


class WebhookDispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        config: DispatcherConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.config = config
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="egov-webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:  # a broken database or a bug: log, wait, go on
                log.exception("webhook_dispatch_failed")
                sent = 0
            if sent < BATCH:
                await asyncio.sleep(self.config.poll_seconds)

    async def run_once(self) -> int:
        """Claim and send one batch of due deliveries; returns how many were attempted."""
        now = utc_now()
        async with transaction(self.sessionmaker) as session:
            ids = list(
                (
                    await session.execute(
                        CLAIM, {"now": now, "lease_until": now + LEASE, "batch": BATCH}
                    )
                ).scalars()
            )
        await asyncio.gather(*(self._deliver(delivery_id) for delivery_id in ids))
        return len(ids)

    async def _deliver(self, delivery_id: uuid.UUID) -> None:
        async with transaction(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(WebhookSubscription)
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).one_or_none()
        if row is None:  # the webhook was deleted meanwhile
            return
        delivery, subscription = row
        status_code: int | None = None
        error: str | None = None
        try:
            await self._check_address(subscription.url)
            body = json.dumps(
                {
                    "id": str(delivery.event_id),
                    "type": delivery.event_type,
                    "data": delivery.payload,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            timestamp = int(time.time())
            response = await self.client.post(
                subscription.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "Kommune-Webhooks/1",
                    SIGNATURE_HEADER: sign(subscription.secret, timestamp, body),
                    "Kommune-Delivery": str(delivery.id),
                    "Kommune-Event-Type": delivery.event_type,
                },
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(delivery, status_code, error)

    async def _check_address(self, url: str) -> None:
        if self.config.allow_private_targets:
            return
        host = urlsplit(url).hostname or ""
        port = urlsplit(url).port or 443
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
        if any(is_private_address(str(info[4][0])) for info in infos):
            raise ValueError("the webhook's host resolves to a private address")

    async def _record(
        self, delivery: WebhookDelivery, status_code: int | None, error: str | None
    ) -> None:
        now = utc_now()
        values: dict[str, object] = {
            "lease_until": None,
            "last_status_code": status_code,
            "last_error": error,
        }
        if error is None:
            values |= {"status": "delivered", "delivered_at": now}
        elif delivery.attempts >= self.config.max_attempts:
            values |= {"status": "failed"}
            log.warning("webhook_failed", delivery_id=str(delivery.id), error=error)
        else:
            wait = backoff(delivery.attempts, self.config.backoff_base_seconds)
            values |= {"next_attempt_at": now + wait}
        async with transaction(self.sessionmaker) as session:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )


def due_after(now: datetime, attempts: int, base_seconds: float) -> tuple[datetime, datetime]:
    """The window the next attempt falls in (for tests and docs)."""
    delay = min(timedelta(seconds=base_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)
    return now + delay * 0.8, now + delay * 1.2
