"""File plan rules: every staff member reads it, records managers maintain it.

A plan unit's code extends its parent's by one segment (``0.21`` under ``0``), so the tree can
be read from the codes alone, as in every printed Aktenplan. Units are never deleted: files
refer to them; a unit that is no longer used gets a ``valid_until``.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput
from kommune.pagination import PageRequest
from kommune_documents.access import Permission, require
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.fileplan.models import PlanUnit
from kommune_documents.fileplan.repository import PlanUnitRepository
from kommune_documents.fileplan.schemas import PlanUnitCreate, PlanUnitUpdate


def is_valid_on(unit: PlanUnit, day: date) -> bool:
    return unit.valid_from <= day and (unit.valid_until is None or day <= unit.valid_until)


class FilePlanService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repository = PlanUnitRepository(session)
        self.audit = AuditTrail(session)

    async def browse(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        parent_id: uuid.UUID | None = None,
        top_level: bool = False,
    ) -> tuple[list[PlanUnit], str | None]:
        require(principal, Permission.READ_FILEPLAN)
        return await self.repository.page(page, parent_id=parent_id, top_level=top_level)

    async def get(self, principal: Principal, unit_id: uuid.UUID) -> PlanUnit:
        require(principal, Permission.READ_FILEPLAN)
        return await self.repository.get(unit_id)

    async def create(
        self, principal: Principal | None, body: PlanUnitCreate, *, unit_id: uuid.UUID | None = None
    ) -> PlanUnit:
        """``principal`` ``None``: the demo loader (no permission check, audited as system)."""
        if principal is not None:
            require(principal, Permission.MANAGE_FILEPLAN)
        if body.parent_id is not None:
            parent = await self.repository.find(body.parent_id)
            if parent is None:
                raise InvalidInput("No such parent plan unit.", field="parent_id")
            prefix, _, last = body.code.rpartition(".")
            if prefix != parent.code or not last:
                raise InvalidInput(
                    f"A unit under {parent.code} has a code {parent.code}.<n>.", field="code"
                )
        elif "." in body.code:
            raise InvalidInput("A top-level unit has a code without a dot.", field="code")
        if await self.repository.by_code(body.code) is not None:
            raise Conflict(f"The plan code {body.code} exists already.")
        unit = await self.repository.add(
            PlanUnit(
                id=unit_id or uuid.uuid4(),
                parent_id=body.parent_id,
                code=body.code,
                title=body.title,
                description=body.description,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
                retention_years=body.retention_years,
                archive_decision=body.archive_decision,
            )
        )
        self.audit.record(
            principal or "system:demo", Action.PLAN_UNIT_CREATED, detail={"code": unit.code}
        )
        return unit

    async def update(
        self, principal: Principal, unit_id: uuid.UUID, body: PlanUnitUpdate
    ) -> PlanUnit:
        require(principal, Permission.MANAGE_FILEPLAN)
        unit = await self.repository.get(unit_id, for_update=True)
        changes = body.changes()
        valid_until = changes.get("valid_until", unit.valid_until)
        if valid_until is not None and valid_until < unit.valid_from:
            raise InvalidInput("valid_until must not be before valid_from.", field="valid_until")
        for name, value in changes.items():
            setattr(unit, name, value)
        unit.updated_at = utc_now()
        await self.session.flush()
        self.audit.record(
            principal,
            Action.PLAN_UNIT_UPDATED,
            detail={"code": unit.code, "fields": sorted(changes)},
        )
        return unit
