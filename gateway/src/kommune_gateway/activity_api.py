"""``GET /api/v1/activity`` (pages, newest first) and ``GET /api/v1/activity/stream`` (SSE).

Both read the gateway's activity log (:mod:`kommune_gateway.activity`) with the caller's
visibility in the query. The stream sends each entry as an SSE event whose ``id:`` is its
position; a client that reconnects with ``Last-Event-ID`` (browsers do it by themselves) gets
every visible entry after that position, in order, and nothing else. Without one it starts at
the newest entry. Memory per stream is bounded: entries are read from the database in batches
only when the previous one was sent (a client that does not read holds back the sender, and is
disconnected after ``activity_send_timeout_seconds``), and one caller holds at most
``max_requests_per_caller`` streams and requests together.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from kommune.auth.principal import Principal
from kommune.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    CursorSigner,
    Ordering,
    SortKey,
    decode_cursor,
    encode_cursor,
    fingerprint,
)
from kommune.routing import service_router
from kommune_gateway.access import Permission, requires
from kommune_gateway.activity import ActivityLog, item
from kommune_gateway.budget import BUDGET_RESPONSES, charge, own_route_budget
from kommune_gateway.models import activity
from kommune_gateway.proxy import CallerLimiter
from kommune_gateway.settings import GatewaySettings

router = service_router("/api/v1/activity", tags=["gateway"])

MayRead = Annotated[Principal, Depends(requires(Permission.READ_ACTIVITY))]

NEWEST_FIRST = Ordering("activity", (SortKey(activity.c.position, "int"),))
STREAM_BATCH = 100
Kind = Literal["idea", "alert", "case"]


class ActivityItem(BaseModel):
    id: int = Field(description="Position in the log: increases with every entry.")
    type: str = Field(description="The CloudEvents type of the event behind it.")
    kind: Kind
    subject: str = Field(description="Id of the idea, alert or application.")
    title: str = Field(description="One line, German, for people.")
    data: dict[str, Any] = Field(description="The event's fields the feed may show.")
    department: str | None = Field(description="Cases: the responsible department's code.")
    occurred_at: datetime


class ActivityPage(BaseModel):
    items: list[ActivityItem]
    next_cursor: str | None


def _signer(request: Request) -> CursorSigner:
    settings: GatewaySettings = request.state.settings
    return CursorSigner(settings.cursor_key, settings.service_name)


@router.get(
    "",
    summary="Activity you may see, newest first (cursor-paginated)",
    dependencies=[Depends(own_route_budget)],
    responses=BUDGET_RESPONSES,
)
async def list_activity(
    request: Request,
    principal: MayRead,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds.")] = None,
) -> ActivityPage:
    log: ActivityLog = request.state.activity
    signer = _signer(request)
    kinds = sorted(set(kind or ()))
    filters = fingerprint(principal.sub, kinds)
    before = decode_cursor(cursor, NEWEST_FIRST, signer, filters)[0] if cursor else None
    rows = await log.newest_first(principal, before=before, limit=limit + 1, kinds=kinds)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(NEWEST_FIRST, [rows[-1].position], signer, filters)
    return ActivityPage(
        items=[ActivityItem.model_validate(item(row)) for row in rows], next_cursor=next_cursor
    )


LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        pattern=r"^[0-9]{1,18}$",
        description="The `id:` of the last event received: the stream resumes after it.",
    ),
]


@router.get(
    "/stream",
    summary="Activity you may see, live (Server-Sent Events; resumable with Last-Event-ID)",
    response_class=EventSourceResponse,
    responses={
        **BUDGET_RESPONSES,
        200: {
            "description": "`text/event-stream`: events `activity` (`id:` = position, `data:` = "
            "an ActivityItem as JSON) and `: ping` comments as heartbeats.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def stream_activity(
    request: Request, principal: MayRead, last_event_id: LastEventId = None
) -> EventSourceResponse:
    log: ActivityLog = request.state.activity
    settings: GatewaySettings = request.state.settings
    callers: CallerLimiter = request.state.callers
    caller = f"sub:{principal.sub}"
    rate_headers = await charge(request, caller)  # each (re)connection is one call
    # Without Last-Event-ID: from now on (asked of the database, not of this replica's watcher,
    # which may not have looked yet).
    start = int(last_event_id) if last_event_id is not None else await log.newest_position()
    release = callers.acquire(caller)  # held for the stream's life: 429 beyond the share

    async def events() -> AsyncIterator[ServerSentEvent]:
        scanned = start
        try:
            while True:
                horizon = log.changes.latest
                if horizon > scanned:
                    rows = await log.after(principal, scanned, horizon, STREAM_BATCH)
                    for row in rows:
                        yield ServerSentEvent(
                            data=json.dumps(item(row), ensure_ascii=False),
                            event="activity",
                            id=str(row.position),
                        )
                    if len(rows) == STREAM_BATCH:
                        scanned = rows[-1].position
                        continue
                    scanned = horizon
                await log.changes.wait_beyond(scanned, settings.activity_heartbeat_seconds)
        finally:
            release()

    return EventSourceResponse(
        events(),
        ping=settings.activity_heartbeat_seconds,
        send_timeout=settings.activity_send_timeout_seconds,
        background=BackgroundTask(release),  # also when the generator never started
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **rate_headers},
    )
