"""Queries of applications: visibility is part of the SQL (own cases, the department's queue)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, text, true
from sqlalchemy.dialects.postgresql import insert

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_egov.access import Permission, can, sees_every_department
from kommune_egov.applications.models import (
    Application,
    ApplicationHistoryEntry,
    IdempotencyKey,
)
from kommune_egov.applications.workflow import OPEN
from kommune_egov.catalogue.definitions import department_code

OLDEST_FIRST = Ordering(
    "queue",
    (
        SortKey(Application.submitted_at, "datetime", descending=False),
        SortKey(Application.id, "uuid", descending=False),
    ),
)
"""The caseworkers' queue: first come, first served."""
NEWEST_FIRST = Ordering(
    "own",
    (
        SortKey(Application.submitted_at, "datetime"),
        SortKey(Application.id, "uuid"),
    ),
)
"""A citizen's own applications: the latest first."""


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """What ``principal`` may see: their own applications; caseworkers their department's."""
    if sees_every_department(principal):
        return true()
    if not can(principal, Permission.READ_APPLICATIONS):
        return false()
    clauses: list[ColumnElement[bool]] = [Application.applicant_sub == principal.sub]
    department = department_code(principal.department)
    if can(principal, Permission.PROCESS_APPLICATIONS) and department:
        clauses.append(Application.department == department)
    condition = clauses[0]
    for clause in clauses[1:]:
        condition = condition | clause
    return condition


class ApplicationRepository(Repository[Application]):
    model = Application
    not_found = "No such application."

    async def visible(
        self, principal: Principal, application_id: uuid.UUID, *, for_update: bool = False
    ) -> Application | None:
        statement = select(Application).where(
            Application.id == application_id, visible_to(principal)
        )
        if for_update:
            statement = statement.with_for_update(of=Application).execution_options(
                populate_existing=True
            )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page_for(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        service: str | None,
        status: str | None,
        submitted_before: datetime | None,
        submitted_after: datetime | None,
        origin: str | None,
    ) -> tuple[list[Application], str | None]:
        statement: Select[Any] = select(Application).where(visible_to(principal))
        if service is not None:
            statement = statement.where(Application.service_code == service)
        if status is not None:
            statement = statement.where(Application.status == status)
        if submitted_before is not None:
            statement = statement.where(Application.submitted_at < submitted_before)
        if submitted_after is not None:
            statement = statement.where(Application.submitted_at >= submitted_after)
        if origin is not None:
            statement = statement.where(Application.origin == origin)
        citizen_view = not (
            can(principal, Permission.PROCESS_APPLICATIONS) or sees_every_department(principal)
        )
        ordering = NEWEST_FIRST if citizen_view else OLDEST_FIRST
        filters = fingerprint(
            principal.sub, service, status, submitted_before, submitted_after, origin
        )
        return await self.paginate(statement, ordering, page, filters=filters)

    async def counts(
        self, principal: Principal, group_by: str, *, open_only: bool
    ) -> dict[str, int]:
        """How many visible applications per department or status (open ones only, or all)."""
        column = Application.department if group_by == "department" else Application.status
        statement = (
            select(column, func.count())
            .where(visible_to(principal))
            .group_by(column)
            .order_by(column)
        )
        if open_only:
            statement = statement.where(Application.status.in_([s.value for s in OPEN]))
        rows = (await self.session.execute(statement)).all()
        return {str(key): int(count) for key, count in rows}

    async def next_reference_number(self) -> int:
        value = await self.session.execute(text("SELECT nextval('application_reference_seq')"))
        return int(value.scalar_one())

    async def by_alert(self, alert_id: uuid.UUID) -> Application | None:
        statement = select(Application).where(Application.source_alert_id == alert_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    # -- history -------------------------------------------------------------------------------

    async def history(self, application_id: uuid.UUID) -> list[ApplicationHistoryEntry]:
        statement = (
            select(ApplicationHistoryEntry)
            .where(ApplicationHistoryEntry.application_id == application_id)
            .order_by(ApplicationHistoryEntry.position)
        )
        return list((await self.session.execute(statement)).scalars())

    async def next_position(self, application_id: uuid.UUID) -> int:
        """The next history position; the caller holds the application's row lock."""
        statement = select(func.coalesce(func.max(ApplicationHistoryEntry.position), 0)).where(
            ApplicationHistoryEntry.application_id == application_id
        )
        return int((await self.session.execute(statement)).scalar_one()) + 1

    async def add_history(self, entry: ApplicationHistoryEntry) -> None:
        self.session.add(entry)
        await self.session.flush()

    # -- idempotency ---------------------------------------------------------------------------

    async def idempotency_key(self, caller: str, key: str) -> IdempotencyKey | None:
        return await self.session.get(IdempotencyKey, (caller, key), populate_existing=True)

    async def claim_idempotency_key(
        self, caller: str, key: str, request_hash: str, application_id: uuid.UUID
    ) -> bool:
        """Insert the key; ``False`` if it exists (a concurrent insert waits for the first
        transaction and then finds it)."""
        statement = (
            insert(IdempotencyKey)
            .values(
                caller=caller, key=key, request_hash=request_hash, application_id=application_id
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None
