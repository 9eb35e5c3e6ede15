"""Audit trail queries (read only: the table takes inserts and nothing else)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_documents.audit.models import AuditEvent

IN_ORDER = Ordering("id", (SortKey(AuditEvent.id, "int", descending=False),))
EXPORT_BATCH = 1000


class AuditRepository(Repository[AuditEvent]):
    model = AuditEvent

    async def page(
        self, file_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[AuditEvent], str | None]:
        statement = select(AuditEvent).where(AuditEvent.file_id == file_id)
        return await self.paginate(statement, IN_ORDER, page, filters=fingerprint(file_id))

    async def all_of(self, file_id: uuid.UUID) -> AsyncIterator[AuditEvent]:
        """Every event of the file in order, fetched in batches (for the export)."""
        last = 0
        while True:
            result = await self.session.execute(
                select(AuditEvent)
                .where(AuditEvent.file_id == file_id, AuditEvent.id > last)
                .order_by(AuditEvent.id)
                .limit(EXPORT_BATCH)
            )
            batch = list(result.scalars())
            for event in batch:
                yield event
            if len(batch) < EXPORT_BATCH:
                return
            last = batch[-1].id
