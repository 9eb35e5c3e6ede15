"""REST contracts of webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from kommune.schemas import InputModel, OutputModel, ShortText

EventType = Literal[
    "de.kommune.egov.application.submitted.v1",
    "de.kommune.egov.application.status_changed.v1",
]


def _status_changes_only() -> list[EventType]:
    return ["de.kommune.egov.application.status_changed.v1"]


class WebhookCreate(InputModel):
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    event_types: list[EventType] = Field(
        default_factory=_status_changes_only,
        min_length=1,
        max_length=2,
    )
    description: ShortText | None = None


class WebhookOut(OutputModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(
        description="The signing key (HMAC-SHA256). Shown only now: store it with the receiver."
    )


class DeliveryOut(OutputModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
