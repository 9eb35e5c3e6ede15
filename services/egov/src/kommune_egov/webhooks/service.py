"""Webhooks: registration by operators, deliveries queued in the unit of work of the change.

A status change enqueues one delivery per active webhook that subscribed to its event type, in
the same transaction as the change (so a delivery exists exactly when the change committed, and
the queue is in PostgreSQL: it survives restarts). :mod:`kommune_egov.webhooks.dispatcher`
sends them.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import InvalidInput, NotFound
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint, paginate
from kommune_egov import events
from kommune_egov.access import Permission, require
from kommune_egov.webhooks.models import WebhookDelivery, WebhookSubscription

SUBSCRIBABLE: tuple[str, ...] = (events.APPLICATION_SUBMITTED, events.APPLICATION_STATUS_CHANGED)

NEWEST_FIRST = Ordering(
    "webhooks",
    (SortKey(WebhookSubscription.created_at, "datetime"), SortKey(WebhookSubscription.id, "uuid")),
)
DELIVERIES = Ordering(
    "deliveries",
    (SortKey(WebhookDelivery.created_at, "datetime"), SortKey(WebhookDelivery.id, "uuid")),
)


def check_target(url: str, *, require_https: bool) -> None:
    """A webhook URL: http(s), a host, no credentials; https outside dev and test."""
    parts = urlsplit(url)
    problem: str | None = None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problem = "Must be an absolute http(s) URL."
    elif require_https and parts.scheme != "https":
        problem = "Must be https."
    elif parts.username or parts.password:
        problem = "Must not contain credentials."
    elif parts.fragment:
        problem = "Must not contain a fragment."
    if problem:
        raise InvalidInput(
            f"Invalid webhook URL: {problem}",
            errors=[{"loc": ["body", "url"], "msg": problem, "type": "value_error"}],
        )


def is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global


class WebhookService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(
        self,
        operator: Principal,
        url: str,
        event_types: list[str],
        description: str | None,
        *,
        require_https: bool,
    ) -> WebhookSubscription:
        require(operator, Permission.MANAGE_WEBHOOKS)
        check_target(url, require_https=require_https)
        subscription = WebhookSubscription(
            id=uuid.uuid4(),
            url=url,
            secret=secrets.token_urlsafe(32),
            event_types=sorted(set(event_types)),
            description=description,
            created_by=operator.sub,
            active=True,
            created_at=utc_now(),
        )
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def browse(
        self, operator: Principal, page: PageRequest
    ) -> tuple[list[WebhookSubscription], str | None]:
        require(operator, Permission.MANAGE_WEBHOOKS)
        return await paginate(
            self.session, select(WebhookSubscription), NEWEST_FIRST, page, filters=fingerprint()
        )

    async def get(self, operator: Principal, webhook_id: uuid.UUID) -> WebhookSubscription:
        require(operator, Permission.MANAGE_WEBHOOKS)
        subscription = await self.session.get(WebhookSubscription, webhook_id)
        if subscription is None:
            raise NotFound("No such webhook.")
        return subscription

    async def delete(self, operator: Principal, webhook_id: uuid.UUID) -> None:
        subscription = await self.get(operator, webhook_id)
        await self.session.delete(subscription)
        await self.session.flush()

    async def deliveries(
        self, operator: Principal, webhook_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[WebhookDelivery], str | None]:
        await self.get(operator, webhook_id)
        statement = select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
        return await paginate(
            self.session, statement, DELIVERIES, page, filters=fingerprint(webhook_id)
        )


async def enqueue(
    session: AsyncSession, event_id: uuid.UUID, event_type: str, payload: Mapping[str, Any]
) -> int:
    """A delivery per active webhook subscribed to ``event_type`` (in the caller's transaction).
    Returns how many were queued."""
    subscriptions = (
        await session.execute(
            select(WebhookSubscription.id).where(
                WebhookSubscription.active.is_(True),
                WebhookSubscription.event_types.contains([event_type]),
            )
        )
    ).scalars()
    rows = [
        {
            "id": uuid.uuid4(),
            "subscription_id": subscription_id,
            "event_id": event_id,
            "event_type": event_type,
            "payload": dict(payload),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": utc_now(),
            "created_at": utc_now(),
        }
        for subscription_id in subscriptions
    ]
    if rows:
        await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())
    return len(rows)
