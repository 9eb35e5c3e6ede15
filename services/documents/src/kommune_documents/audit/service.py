"""Writing the audit trail.

Allowed actions are recorded in the request's own unit of work: they exist exactly when the
change or read they describe committed. Refusals are recorded in a transaction of their own,
because the request that was refused rolls back (and answers 404 or 403).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune_documents.audit.models import AuditEvent


class Action(StrEnum):
    PLAN_UNIT_CREATED = "plan_unit.created"
    PLAN_UNIT_UPDATED = "plan_unit.updated"
    FILE_CREATED = "file.created"
    FILE_READ = "file.read"
    FILE_CLOSED = "file.closed"
    READER_ADDED = "file.reader_added"
    READER_REMOVED = "file.reader_removed"
    PROCESS_CREATED = "process.created"
    PROCESS_CLOSED = "process.closed"
    PROCESS_READ = "process.read"
    DOCUMENT_CREATED = "document.created"
    DOCUMENT_READ = "document.read"
    VERSION_ADDED = "document.version_added"
    DOCUMENT_DOWNLOADED = "document.downloaded"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORTED = "audit.exported"
    APPLICATION_FILED = "application.filed"
    LEGAL_HOLD_SET = "file.legal_hold_set"
    LEGAL_HOLD_CLEARED = "file.legal_hold_cleared"
    FILE_OFFERED = "file.offered"
    FILE_HANDED_OVER = "file.handed_over"
    FILE_DISPOSED = "file.disposed"
    INVOICE_RECEIVED = "invoice.received"
    INVOICE_STEP = "invoice.status_changed"
    OCR_COMPLETED = "document.ocr_completed"
    MAIL_RECEIVED = "mail.received"
    MAIL_ROUTED = "mail.routed"
    MAIL_DOWNLOADED = "mail.downloaded"
    MAIL_FILED = "mail.filed"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


def _entry(
    actor: str,
    roles: str,
    action: Action,
    outcome: Outcome,
    file_id: uuid.UUID | None,
    document_id: uuid.UUID | None,
    detail: dict[str, Any] | None,
) -> AuditEvent:
    return AuditEvent(
        actor=actor[:255],
        actor_roles=roles[:500],
        action=action,
        outcome=outcome,
        file_id=file_id,
        document_id=document_id,
        detail=detail or {},
    )


def _roles(principal: Principal) -> str:
    return ",".join(sorted(principal.roles))


class AuditTrail:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(
        self,
        principal: Principal | str,
        action: Action,
        *,
        file_id: uuid.UUID | None = None,
        document_id: uuid.UUID | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """An allowed action, committed with the request (``principal``: a person or a
        ``system:<what>`` actor)."""
        actor, roles = (
            (principal, "") if isinstance(principal, str) else (principal.sub, _roles(principal))
        )
        self.session.add(
            _entry(actor, roles, action, Outcome.ALLOWED, file_id, document_id, detail)
        )

    async def record_denied(
        self,
        principal: Principal,
        action: Action,
        *,
        file_id: uuid.UUID | None = None,
        document_id: uuid.UUID | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """A refused attempt, committed now in its own transaction (the request rolls back)."""
        entry = _entry(
            principal.sub,
            _roles(principal),
            action,
            Outcome.DENIED,
            file_id,
            document_id,
            detail,
        )
        async with AsyncSession(self.session.bind) as own:
            own.add(entry)
            await own.commit()
