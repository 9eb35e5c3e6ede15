"""Aggregated reads: the staff dashboard and a caller's own overview (``/api/v1/me``).

Each answer is assembled from several services at once (:mod:`kommune_gateway.fanout`), called
with the caller's own token, so each service applies its own rules to its part. A part that is
slow, failing, forbidden or not deployed is ``null`` and named in ``missing`` with the reason;
the answer is 200 all the same (``complete`` says whether anything is missing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from kommune.auth.principal import Principal
from kommune.routing import service_router
from kommune_gateway.access import Permission, can, requires
from kommune_gateway.budget import BUDGET_RESPONSES, own_route_budget
from kommune_gateway.fanout import Gathered, Part, gather_parts
from kommune_gateway.proxy import UpstreamPool
from kommune_gateway.settings import GatewaySettings

router = service_router("/api/v1", tags=["gateway"])

MayViewDashboard = Annotated[Principal, Depends(requires(Permission.VIEW_DASHBOARD))]
MayViewOverview = Annotated[Principal, Depends(requires(Permission.VIEW_OVERVIEW))]

Reason = Literal[
    "timeout",
    "unavailable",
    "circuit_open",
    "not_deployed",
    "unauthorized",
    "forbidden",
    "not_available",
    "error",
]


class _Tolerant(BaseModel):
    """What the gateway reads of an upstream's answer (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")


class MissingPart(BaseModel):
    part: str = Field(description="The field of this answer that is `null`.")
    upstream: str = Field(description="The service that did not deliver it.")
    reason: Reason


# -- dashboard parts ----------------------------------------------------------------------------


class OpenCases(_Tolerant):
    total: int
    by_department: dict[str, int] = Field(description="Department code → open applications.")


class IdeaCounts(_Tolerant):
    total: int
    by_status: dict[str, int]


class WasteSummary(_Tolerant):
    containers_above_threshold: int


class AlertSummary(_Tolerant):
    open: int = Field(description="Open alerts (at most `limit`; see `more`).")
    more: bool = Field(description="There are more open alerts than counted.")
    latest: list[dict[str, Any]] = Field(description="The newest open alerts (up to 5).")


class TrafficTotals(_Tolerant):
    pedestrian: int
    bicycle: int
    car: int


class TrafficToday(_Tolerant):
    date: date
    totals: TrafficTotals


class Dashboard(BaseModel):
    generated_at: datetime
    complete: bool = Field(description="`false` when a part is missing (see `missing`).")
    open_cases: OpenCases | None
    ideas: IdeaCounts | None
    waste: WasteSummary | None
    alerts: AlertSummary | None
    traffic: TrafficToday | None
    missing: list[MissingPart]


class _Counts(_Tolerant):
    total: int
    counts: dict[str, int]


class _Page(_Tolerant):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class _Total(_Tolerant):
    total: int


ALERT_LIMIT = 100


def _open_cases(body: Any) -> OpenCases:
    counts = _Counts.model_validate(body)
    return OpenCases(total=counts.total, by_department=counts.counts)


def _alerts(body: Any) -> AlertSummary:
    page = _Page.model_validate(body)
    return AlertSummary(
        open=len(page.items), more=page.next_cursor is not None, latest=page.items[:5]
    )


DASHBOARD_PARTS: tuple[Part, ...] = (
    Part(
        "open_cases",
        "egov",
        "/api/v1/applications/counts",
        _open_cases,
        {"group_by": "department", "open": "true"},
    ),
    Part("ideas", "ideas", "/api/v1/ideas/counts", IdeaCounts.model_validate),
    Part(
        "waste",
        "sensors",
        "/api/v1/waste/containers",
        lambda body: WasteSummary(containers_above_threshold=_Total.model_validate(body).total),
        {"above_threshold": "true", "limit": "1"},
    ),
    Part(
        "alerts",
        "sensors",
        "/api/v1/sensors/alerts",
        _alerts,
        {"open": "true", "limit": str(ALERT_LIMIT)},
    ),
    Part("traffic", "sensors", "/api/v1/traffic/summary", TrafficToday.model_validate),
)


# -- overview parts -----------------------------------------------------------------------------


class ItemList(BaseModel):
    items: list[dict[str, Any]] = Field(description="As the service lists them.")
    more: bool = Field(description="The service has more (page on with its own list).")


class UnreadMessages(BaseModel):
    unread: int = Field(description="Unread messages (at most `limit`; see `more`).")
    more: bool
    latest: list[dict[str, Any]] = Field(description="The newest unread messages (up to 5).")


class Overview(BaseModel):
    generated_at: datetime
    complete: bool = Field(description="`false` when a part is missing (see `missing`).")
    sub: str = Field(description="The caller's subject id.")
    roles: list[str]
    applications: ItemList | None = Field(
        None, description="Citizens: their applications, newest first."
    )
    mailbox: UnreadMessages | None = Field(None, description="Citizens: unread messages.")
    appointments: ItemList | None = Field(None, description="Citizens: their appointments.")
    ideas: ItemList | None = Field(None, description="Staff: the ideas they posted.")
    tasks: ItemList | None = Field(
        None, description="Caseworkers: their department's open queue, oldest first."
    )
    missing: list[MissingPart]


OVERVIEW_LIMIT = 20
MAILBOX_LIMIT = 100


def _item_list(body: Any) -> ItemList:
    page = _Page.model_validate(body)
    return ItemList(items=page.items, more=page.next_cursor is not None)


def _unread(body: Any) -> UnreadMessages:
    page = _Page.model_validate(body)
    return UnreadMessages(
        unread=len(page.items), more=page.next_cursor is not None, latest=page.items[:5]
    )


def overview_parts(principal: Principal) -> list[Part]:
    """The parts for this caller's roles (a citizen who is also staff gets both sets)."""
    limit = str(OVERVIEW_LIMIT)
    parts: list[Part] = []
    if can(principal, Permission.SEE_OWN_CASES):
        parts += [
            Part("applications", "egov", "/api/v1/applications", _item_list, {"limit": limit}),
            Part(
                "mailbox",
                "egov",
                "/api/v1/mailbox",
                _unread,
                {"unread": "true", "limit": str(MAILBOX_LIMIT)},
            ),
            Part("appointments", "egov", "/api/v1/appointments", _item_list, {"limit": limit}),
        ]
    if can(principal, Permission.SEE_STAFF_ACTIVITY):
        parts.append(
            Part("ideas", "ideas", "/api/v1/ideas", _item_list, {"author": "me", "limit": limit})
        )
    if can(principal, Permission.WORK_QUEUE):
        parts.append(
            Part(
                "tasks",
                "egov",
                "/api/v1/applications",
                _item_list,
                {"status": "submitted", "limit": limit},
            )
        )
    return parts


# -- endpoints ----------------------------------------------------------------------------------


async def _gather(request: Request, parts: list[Part] | tuple[Part, ...]) -> Gathered:
    settings: GatewaySettings = request.state.settings
    pool: UpstreamPool = request.state.upstreams
    return await gather_parts(
        pool,
        list(parts),
        authorization=request.headers["authorization"],
        deadline=settings.aggregate_timeout_seconds,
    )


def _missing(gathered: Gathered) -> list[MissingPart]:
    return [MissingPart.model_validate(m.as_dict()) for m in gathered.missing]


@router.get(
    "/dashboard",
    dependencies=[Depends(own_route_budget)],
    responses=BUDGET_RESPONSES,
    summary="Staff dashboard: open cases, ideas, waste, alerts, today's traffic (partial if a "
    "service is down)",
)
async def dashboard(request: Request, principal: MayViewDashboard) -> Dashboard:
    gathered = await _gather(request, DASHBOARD_PARTS)
    values = gathered.values
    return Dashboard(
        generated_at=datetime.now(UTC),
        complete=not gathered.missing,
        open_cases=values.get("open_cases"),
        ideas=values.get("ideas"),
        waste=values.get("waste"),
        alerts=values.get("alerts"),
        traffic=values.get("traffic"),
        missing=_missing(gathered),
    )


@router.get(
    "/me",
    dependencies=[Depends(own_route_budget)],
    responses=BUDGET_RESPONSES,
    summary="Your overview: applications, unread messages, appointments (citizens); ideas and "
    "tasks (staff)",
)
async def me(request: Request, principal: MayViewOverview) -> Overview:
    gathered = await _gather(request, overview_parts(principal))
    return Overview(
        generated_at=datetime.now(UTC),
        complete=not gathered.missing,
        sub=principal.sub,
        roles=sorted(principal.roles),
        missing=_missing(gathered),
        **gathered.values,
    )
