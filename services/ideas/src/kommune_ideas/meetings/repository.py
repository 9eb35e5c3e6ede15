"""Innovation circle queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_ideas.meetings.models import AgendaItem, Meeting
from kommune_ideas.meetings.schemas import MeetingPeriod

LATEST_FIRST = Ordering(
    "latest_first", (SortKey(Meeting.scheduled_at, "datetime"), SortKey(Meeting.id, "uuid"))
)
SOONEST_FIRST = Ordering(
    "soonest_first",
    (
        SortKey(Meeting.scheduled_at, "datetime", descending=False),
        SortKey(Meeting.id, "uuid", descending=False),
    ),
)


class MeetingRepository(Repository[Meeting]):
    model = Meeting
    not_found = "No such meeting."

    def statement(self) -> Select[Any]:
        """A circle with its agenda, as stored now (it is read back after every change)."""
        return (
            select(Meeting)
            .options(selectinload(Meeting.agenda_items))
            .execution_options(populate_existing=True)
        )

    async def previous(self, before: datetime, exclude: uuid.UUID) -> Meeting | None:
        """The latest circle scheduled before ``before`` (other than ``exclude``)."""
        statement = (
            select(Meeting)
            .where(Meeting.scheduled_at < before, Meeting.id != exclude)
            .order_by(Meeting.scheduled_at.desc(), Meeting.id.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self, period: MeetingPeriod | None, now: datetime, page: PageRequest
    ) -> tuple[list[Meeting], str | None]:
        statement = select(Meeting)
        ordering = LATEST_FIRST
        if period == MeetingPeriod.UPCOMING:
            statement = statement.where(Meeting.scheduled_at >= now)
            ordering = SOONEST_FIRST
        elif period == MeetingPeriod.PAST:
            statement = statement.where(Meeting.scheduled_at < now)
        # "now" moves between pages; the cursor keeps the order, so pages stay consistent.
        return await self.paginate(statement, ordering, page, filters=fingerprint(period))

    async def add_item(self, item: AgendaItem) -> AgendaItem:
        self.session.add(item)
        await self.session.flush()
        return item

    async def delete_item(self, item: AgendaItem) -> None:
        await self.session.delete(item)
        await self.session.flush()

    async def next_position(self, meeting_id: uuid.UUID) -> int:
        statement = select(func.coalesce(func.max(AgendaItem.position), 0)).where(
            AgendaItem.meeting_id == meeting_id
        )
        return int((await self.session.execute(statement)).scalar_one()) + 1

    async def items(self, meeting_id: uuid.UUID) -> list[AgendaItem]:
        statement = (
            select(AgendaItem)
            .where(AgendaItem.meeting_id == meeting_id)
            .order_by(AgendaItem.position, AgendaItem.id)
        )
        return list((await self.session.execute(statement)).scalars())
