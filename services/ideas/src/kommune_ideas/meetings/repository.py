"""Innovation circle queries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kommune_ideas.meetings.models import AgendaItem, Meeting
from kommune_ideas.meetings.schemas import MeetingPeriod
from kommune_ideas.pagination import Ordering, PageRequest, SortKey, fingerprint, paginate

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


class MeetingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, meeting_id: uuid.UUID, *, with_agenda: bool = True, for_update: bool = False
    ) -> Meeting | None:
        statement = select(Meeting).where(Meeting.id == meeting_id)
        if with_agenda:
            statement = statement.options(selectinload(Meeting.agenda_items))
        if for_update:
            statement = statement.with_for_update(of=Meeting)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

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
        return await paginate(self.session, statement, ordering, page, filters=fingerprint(period))

    async def add(self, meeting: Meeting) -> Meeting:
        self.session.add(meeting)
        await self.session.flush()
        return meeting

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
