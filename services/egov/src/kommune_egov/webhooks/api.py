"""Webhook registration (operators and administrators)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.settings import Environment
from kommune_egov.access import Permission, requires
from kommune_egov.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreatedOut, WebhookOut
from kommune_egov.webhooks.service import WebhookService

MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_WEBHOOKS))]

router = service_router("/api/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a webhook")
async def create_webhook(
    body: WebhookCreate, request: Request, session: DbSession, principal: MayManage
) -> WebhookCreatedOut:
    environment = request.state.settings.environment
    subscription = await WebhookService(session).register(
        principal,
        body.url,
        list(body.event_types),
        body.description,
        require_https=environment == Environment.PRODUCTION,
    )
    return WebhookCreatedOut.model_validate(subscription)


@router.get("", summary="Registered webhooks")
async def list_webhooks(
    session: DbSession, principal: MayManage, page: PageParams
) -> Page[WebhookOut]:
    items, next_cursor = await WebhookService(session).browse(principal, page)
    return Page(items=[WebhookOut.model_validate(w) for w in items], next_cursor=next_cursor)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a webhook")
async def delete_webhook(
    webhook_id: uuid.UUID, session: DbSession, principal: MayManage
) -> Response:
    await WebhookService(session).delete(principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first")
async def list_deliveries(
    webhook_id: uuid.UUID, session: DbSession, principal: MayManage, page: PageParams
) -> Page[DeliveryOut]:
    items, next_cursor = await WebhookService(session).deliveries(principal, webhook_id, page)
    return Page(items=[DeliveryOut.model_validate(d) for d in items], next_cursor=next_cursor)
