"""The activity log: what happened on the platform, recorded from the services' events.

The gateway consumes ``ideas.idea.v1``, ``egov.application.v1`` and ``sensors.alert.v1`` with
the shared runtime's consumer (inbox in the gateway's database: each event recorded once) and
keeps one row per event in ``activity``, with only what the feed shows (no author, no applicant
name; the applicant's pseudonymous subject is stored to filter by, never returned).

**Positions.** ``activity.position`` is an identity column, and every writer takes one
transaction-scoped advisory lock before its insert, so positions are handed out in commit order:
once position *n* is visible, every lower position is committed or never will be. That makes
the position a safe SSE event id and resume point (a plain sequence is not: a transaction that
drew a lower number may commit after a reader moved past it).

**Visibility** is part of every query (:func:`visible_to`): a citizen sees the case activity of
their own applications; staff see ideas and alerts; caseworkers also the cases of the department
in their token (its code, as egov uses it); administrators every case. Nobody sees another
citizen's cases.

**Waking streams.** :class:`Changes` holds the newest committed position a replica knows: the
consumer's commit raises it at once in its own replica, a poll of ``max(position)`` every
``activity_poll_seconds`` in the others (one query per replica, not per stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kommune.auth.principal import Principal
from kommune.db import create_engine, create_sessionmaker
from kommune.events.consumer import ConsumerRunner, ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune.events.topics import DAY_MS, TopicProvisioner, TopicSpec
from kommune_gateway.access import Permission, can
from kommune_gateway.models import activity
from kommune_gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

IDEA_TOPIC = "ideas.idea.v1"
APPLICATION_TOPIC = "egov.application.v1"
ALERT_TOPIC = "sensors.alert.v1"

CONSUMED_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(name=IDEA_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=APPLICATION_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=ALERT_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
)
"""Declared as their owners declare them, so the consumer can subscribe before they start."""

IDEA_CREATED = "de.kommune.ideas.idea.created.v1"
IDEA_STATUS_CHANGED = "de.kommune.ideas.idea.status_changed.v1"
APPLICATION_SUBMITTED = "de.kommune.egov.application.submitted.v1"
APPLICATION_STATUS_CHANGED = "de.kommune.egov.application.status_changed.v1"
ALERT_RAISED = "de.kommune.sensors.alert.raised.v1"
ALERT_RESOLVED = "de.kommune.sensors.alert.resolved.v1"

WRITER_LOCK = 0x6B61637469766974  # "kactivit": the activity writers' advisory lock
"""Serialises the writers so that positions are handed out in commit order."""


# -- what is recorded of each event ---------------------------------------------------------------


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IdeaCreated(_Tolerant):
    idea_id: str
    title: str
    status: str
    created_at: datetime


class IdeaStatusChanged(_Tolerant):
    idea_id: str
    title: str
    from_status: str
    to_status: str


class ApplicationSubmitted(_Tolerant):
    application_id: str
    reference: str
    service_code: str
    service_name: str
    department: str
    submitted_at: datetime
    applicant_sub: str | None = None


class ApplicationStatusChanged(_Tolerant):
    application_id: str
    reference: str
    service_code: str
    department: str
    from_status: str
    to_status: str
    changed_at: datetime
    applicant_sub: str | None = None


class AlertRaised(_Tolerant):
    alert_id: str
    kind: str
    thing_id: int | str
    thing_name: str
    district: str | None = None
    value: float
    threshold: float
    raised_at: datetime


class AlertResolved(_Tolerant):
    alert_id: str
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    subject: str
    title: str
    data: dict[str, Any]
    occurred_at: datetime
    department: str | None = None
    owner_sub: str | None = None


def _idea_created(data: dict[str, Any]) -> Entry:
    idea = IdeaCreated.model_validate(data)
    return Entry(
        "idea",
        idea.idea_id,
        f"Neue Idee: {idea.title}",
        idea.model_dump(mode="json", exclude={"created_at"}),
        idea.created_at,
    )


def _idea_status_changed(data: dict[str, Any], time: datetime) -> Entry:
    change = IdeaStatusChanged.model_validate(data)
    return Entry(
        "idea",
        change.idea_id,
        f"Idee „{change.title}“: {change.from_status} → {change.to_status}",
        change.model_dump(mode="json"),
        time,
    )


def _application_submitted(data: dict[str, Any]) -> Entry:
    case = ApplicationSubmitted.model_validate(data)
    return Entry(
        "case",
        case.application_id,
        f"Antrag {case.reference} eingereicht: {case.service_name}",
        case.model_dump(mode="json", exclude={"applicant_sub", "submitted_at"})
        | {"status": "submitted"},
        case.submitted_at,
        department=case.department,
        owner_sub=case.applicant_sub,
    )


def _application_status_changed(data: dict[str, Any]) -> Entry:
    change = ApplicationStatusChanged.model_validate(data)
    return Entry(
        "case",
        change.application_id,
        f"Antrag {change.reference}: {change.to_status}",
        change.model_dump(mode="json", exclude={"applicant_sub", "changed_at"}),
        change.changed_at,
        department=change.department,
        owner_sub=change.applicant_sub,
    )


def _alert_raised(data: dict[str, Any]) -> Entry:
    alert = AlertRaised.model_validate(data)
    return Entry(
        "alert",
        alert.alert_id,
        f"Alarm: {alert.thing_name}",
        alert.model_dump(mode="json", exclude={"raised_at"}),
        alert.raised_at,
    )


async def _alert_resolved(session: AsyncSession, data: dict[str, Any]) -> Entry:
    resolved = AlertResolved.model_validate(data)
    raised = await session.scalar(
        sa.select(activity.c.data["thing_name"].astext).where(
            activity.c.kind == "alert",
            activity.c.subject == resolved.alert_id,
            activity.c.type == ALERT_RAISED,
        )
    )
    return Entry(
        "alert",
        resolved.alert_id,
        f"Alarm erledigt: {raised}" if raised else "Alarm erledigt",
        resolved.model_dump(mode="json", exclude={"resolved_at"}),
        resolved.resolved_at,
    )


async def entry_for(session: AsyncSession, event: ReceivedEvent) -> Entry | None:
    """The activity an event stands for (``None`` for types the feed does not show)."""
    data = event.data
    time = event.time or datetime.now().astimezone()
    match event.type:
        case "de.kommune.ideas.idea.created.v1":
            return _idea_created(data)
        case "de.kommune.ideas.idea.status_changed.v1":
            return _idea_status_changed(data, time)
        case "de.kommune.egov.application.submitted.v1":
            return _application_submitted(data)
        case "de.kommune.egov.application.status_changed.v1":
            return _application_status_changed(data)
        case "de.kommune.sensors.alert.raised.v1":
            return _alert_raised(data)
        case "de.kommune.sensors.alert.resolved.v1":
            return await _alert_resolved(session, data)
    return None


HANDLED_TYPES = frozenset(
    {
        IDEA_CREATED,
        IDEA_STATUS_CHANGED,
        APPLICATION_SUBMITTED,
        APPLICATION_STATUS_CHANGED,
        ALERT_RAISED,
        ALERT_RESOLVED,
    }
)


# -- newest known position, per replica -----------------------------------------------------------


class Changes:
    """The newest committed position this replica knows, and a way to wait for a newer one."""

    def __init__(self) -> None:
        self.latest = 0
        self._moved = asyncio.Event()

    def notify(self, position: int) -> None:
        if position > self.latest:
            self.latest = position
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()  # wakes every waiter of the old event; new waiters take the new one

    async def wait_beyond(self, position: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once something newer than ``position`` is known, or after ``timeout``."""
        if self.latest > position:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), timeout)


# -- the consumer ---------------------------------------------------------------------------------


def activity_consumer(settings: GatewaySettings, changes: Changes) -> ConsumerSpec:
    async def record(session: AsyncSession, event: ReceivedEvent) -> None:
        entry = await entry_for(session, event)
        if entry is None:
            return
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(WRITER_LOCK)))
        position = await session.scalar(
            insert(activity)
            .values(
                event_id=event.id,
                type=event.type,
                kind=entry.kind,
                subject=entry.subject,
                title=entry.title[:500],
                data=entry.data,
                department=entry.department,
                owner_sub=entry.owner_sub,
                occurred_at=entry.occurred_at,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(activity.c.position)
        )
        if position is not None:
            sa_event.listen(
                session.sync_session, "after_commit", lambda _: changes.notify(position), once=True
            )

    return ConsumerSpec(
        group_id=settings.activity_consumer_group,
        topics=[spec.name for spec in CONSUMED_TOPICS],
        handler=record,
        event_types=HANDLED_TYPES,
    )


# -- queries --------------------------------------------------------------------------------------


def department_code(claim: str | None) -> str | None:
    """The department code in a token's claim (egov's codes are lower case: ``buergeramt``)."""
    if not claim or not claim.strip():
        return None
    return claim.strip().casefold()


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The activity ``principal`` may see, as a condition of the query itself."""
    clauses: list[sa.ColumnElement[bool]] = []
    if can(principal, Permission.SEE_STAFF_ACTIVITY):
        clauses.append(activity.c.kind.in_(("idea", "alert")))
    if can(principal, Permission.SEE_ALL_CASES):
        clauses.append(activity.c.kind == "case")
    else:
        department = department_code(principal.department)
        if can(principal, Permission.SEE_DEPARTMENT_CASES) and department:
            clauses.append(sa.and_(activity.c.kind == "case", activity.c.department == department))
        if can(principal, Permission.SEE_OWN_CASES):
            clauses.append(
                sa.and_(activity.c.kind == "case", activity.c.owner_sub == principal.sub)
            )
    return sa.or_(*clauses) if clauses else sa.false()


COLUMNS = (
    activity.c.position,
    activity.c.type,
    activity.c.kind,
    activity.c.subject,
    activity.c.title,
    activity.c.data,
    activity.c.department,
    activity.c.occurred_at,
)
"""What a reader gets (``owner_sub`` never leaves the database)."""


class ActivityLog:
    """Reads of the activity table for one replica (engine, newest position, housekeeping)."""

    def __init__(self, engine: AsyncEngine, changes: Changes) -> None:
        self.engine = engine
        self.changes = changes

    async def newest_first(
        self,
        principal: Principal,
        *,
        before: int | None,
        limit: int,
        kinds: Sequence[str] | None,
    ) -> list[Any]:
        statement = sa.select(*COLUMNS).where(visible_to(principal))
        if before is not None:
            statement = statement.where(activity.c.position < before)
        if kinds:
            statement = statement.where(activity.c.kind.in_(kinds))
        statement = statement.order_by(activity.c.position.desc()).limit(limit)
        async with self.engine.connect() as connection:
            return list((await connection.execute(statement)).all())

    async def after(
        self, principal: Principal, position: int, horizon: int, limit: int
    ) -> list[Any]:
        """Visible rows with ``position < p <= horizon``, oldest first (a stream's next batch)."""
        statement = (
            sa.select(*COLUMNS)
            .where(
                visible_to(principal),
                activity.c.position > position,
                activity.c.position <= horizon,
            )
            .order_by(activity.c.position)
            .limit(limit)
        )
        async with self.engine.connect() as connection:
            return list((await connection.execute(statement)).all())

    async def newest_position(self) -> int:
        async with self.engine.connect() as connection:
            value = await connection.scalar(sa.select(sa.func.max(activity.c.position)))
        return int(value or 0)

    async def prune(self, older_than: timedelta) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                sa.delete(activity).where(activity.c.recorded_at < sa.func.now() - older_than)
            )
        return int(result.rowcount or 0)

    async def watch(self, every: float, retention: timedelta, prune_every: float = 3600) -> None:
        """Learn positions other replicas recorded; prune old rows now and then. Never raises."""
        next_prune = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.changes.notify(await self.newest_position())
                if loop.time() >= next_prune:
                    next_prune = loop.time() + prune_every
                    pruned = await self.prune(retention)
                    if pruned:
                        log.info("activity_pruned", rows=pruned)
            except Exception as exc:  # the database may be away for a while; keep watching
                log.warning("activity_watch_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(every)


def item(row: sa.Row[Any]) -> dict[str, Any]:
    """A row as the API shows it (list item and SSE data)."""
    return {
        "id": row.position,
        "type": row.type,
        "kind": row.kind,
        "subject": row.subject,
        "title": row.title,
        "data": row.data,
        "department": row.department,
        "occurred_at": row.occurred_at.isoformat(),
    }


@asynccontextmanager
async def activity_log(settings: GatewaySettings) -> AsyncIterator[ActivityLog]:
    """The activity log of this replica, its watcher and (unless disabled) its consumer."""
    async with AsyncExitStack() as stack:
        engine = create_engine(
            settings.database_url, pool_size=settings.activity_pool_size, application_name="gateway"
        )
        stack.push_async_callback(engine.dispose)
        changes = Changes()
        log_ = ActivityLog(engine, changes)
        watcher = asyncio.create_task(
            log_.watch(
                settings.activity_poll_seconds, timedelta(days=settings.activity_retention_days)
            ),
            name="activity-watch",
        )
        stack.callback(watcher.cancel)
        if settings.consumers_enabled:
            spec = activity_consumer(settings, changes)
            provisioner = TopicProvisioner(
                settings.kafka_bootstrap_servers,
                [*CONSUMED_TOPICS, *spec.dead_letter_topics()],
                prefix=settings.kafka_topic_prefix,
            )
            await provisioner.start()
            stack.push_async_callback(provisioner.stop)
            runner = ConsumerRunner(
                spec,
                sessionmaker=create_sessionmaker(engine),
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic_prefix=settings.kafka_topic_prefix,
                inbox_retention=timedelta(days=settings.inbox_retention_days),
                topics_ready=provisioner.ready,
            )
            await runner.start()
            stack.push_async_callback(runner.stop)
        yield log_
