"""Innovation circle rules: scheduling with a proposed agenda, editing it, recording outcomes.

Recording an outcome with a status performs the status change through the same workflow as the
status endpoint (:meth:`IdeaService.change_status`, ``Channel.CIRCLE``); if the workflow says no,
nothing is recorded.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_ideas import events
from kommune_ideas.access import Permission, require
from kommune_ideas.ideas.schemas import StatusChange
from kommune_ideas.ideas.service import IdeaService
from kommune_ideas.ideas.workflow import Channel, IdeaStatus
from kommune_ideas.meetings.models import AgendaItem, AgendaItemKind, Meeting
from kommune_ideas.meetings.repository import MeetingRepository
from kommune_ideas.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemUpdate,
    MeetingCreate,
    MeetingPeriod,
    MeetingUpdate,
    OutcomeCreate,
)


class MeetingService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.meetings = MeetingRepository(session)
        self.ideas = IdeaService(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- reading --------------------------------------------------------------------------------

    async def browse(
        self, viewer: Principal, period: MeetingPeriod | None, page: PageRequest
    ) -> tuple[list[Meeting], str | None]:
        require(viewer, Permission.READ_MEETINGS)
        return await self.meetings.page(period, utc_now(), page)

    async def get(self, viewer: Principal, meeting_id: uuid.UUID) -> Meeting:
        require(viewer, Permission.READ_MEETINGS)
        return await self._meeting(meeting_id)

    async def _meeting(self, meeting_id: uuid.UUID, *, for_update: bool = False) -> Meeting:
        return await self.meetings.get(meeting_id, for_update=for_update)

    # -- scheduling -----------------------------------------------------------------------------

    async def schedule(
        self, organiser: Principal, body: MeetingCreate, *, meeting_id: uuid.UUID | None = None
    ) -> Meeting:
        """Schedule a circle; ``meeting_id`` is given only by the demo loader (its fixed ids)."""
        require(organiser, Permission.MANAGE_MEETINGS)
        now = utc_now()
        meeting = await self.meetings.add(
            Meeting(
                id=meeting_id or uuid.uuid4(),
                title=body.title,
                scheduled_at=body.scheduled_at,
                location=body.location,
                participants=[p.model_dump() for p in body.participants],
                created_by=organiser.sub,
                created_at=now,
                updated_at=now,
            )
        )
        if body.propose_agenda:
            await self._propose_agenda(meeting)
        meeting = await self._meeting(meeting.id)
        await self.outbox.add(
            events.meeting_event(
                events.MEETING_SCHEDULED,
                meeting.id,
                events.MeetingScheduledV1(
                    meeting_id=meeting.id,
                    title=meeting.title,
                    scheduled_at=meeting.scheduled_at,
                    location=meeting.location,
                    participant_count=len(meeting.participants),
                    agenda=[
                        events.AgendaEntry(
                            agenda_item_id=item.id,
                            idea_id=item.idea_id,
                            kind=item.kind,
                            title=item.title,
                        )
                        for item in meeting.agenda_items
                    ],
                    scheduled_by=organiser.sub,
                ),
            )
        )
        return meeting

    async def _propose_agenda(self, meeting: Meeting) -> None:
        """Every idea posted since the previous circle, then every idea up for decision.

        The previous circle is the latest one that has taken place before this one (circles
        scheduled for later dates have not happened yet, so they do not count).
        """
        until = min(meeting.scheduled_at, utc_now())
        previous = await self.meetings.previous(until, exclude=meeting.id)
        new_ideas = await self.ideas.ideas.created_between(
            previous.scheduled_at if previous else None, until
        )
        for_decision = await self.ideas.ideas.with_status(IdeaStatus.FOR_DECISION)
        deciding = {idea.id for idea in for_decision}
        proposals = [
            (AgendaItemKind.NEW_IDEA, idea) for idea in new_ideas if idea.id not in deciding
        ] + [(AgendaItemKind.FOR_DECISION, idea) for idea in for_decision]
        for position, (kind, idea) in enumerate(proposals, start=1):
            await self.meetings.add_item(
                AgendaItem(
                    meeting_id=meeting.id,
                    position=position,
                    kind=kind.value,
                    idea_id=idea.id,
                    title=idea.title,
                )
            )

    async def update(
        self, organiser: Principal, meeting_id: uuid.UUID, body: MeetingUpdate
    ) -> Meeting:
        require(organiser, Permission.MANAGE_MEETINGS)
        meeting = await self._meeting(meeting_id, for_update=True)
        for name in body.model_fields_set:
            value = getattr(body, name)
            if name == "participants":
                value = [p.model_dump() for p in body.participants or []]
            setattr(meeting, name, value)
        meeting.updated_at = utc_now()
        await self.session.flush()
        return await self._meeting(meeting_id)

    # -- agenda ---------------------------------------------------------------------------------

    async def add_item(
        self, organiser: Principal, meeting_id: uuid.UUID, body: AgendaItemCreate
    ) -> Meeting:
        require(organiser, Permission.MANAGE_MEETINGS)
        meeting = await self._meeting(meeting_id, for_update=True)
        title = body.title
        kind = AgendaItemKind.TOPIC
        if body.idea_id is not None:
            idea = await self.ideas.ideas.get_readable(organiser, body.idea_id)
            if idea is None:
                raise InvalidInput("No such idea.", field="idea_id")
            if any(item.idea_id == idea.id for item in meeting.agenda_items):
                raise Conflict("This idea is on the agenda already.")
            title = title or idea.title
            kind = AgendaItemKind.IDEA
        assert title is not None
        end = await self.meetings.next_position(meeting_id)
        position = min(body.position or end, end)
        for item in meeting.agenda_items:
            if item.position >= position:
                item.position += 1
        await self.meetings.add_item(
            AgendaItem(
                meeting_id=meeting_id,
                position=position,
                kind=kind.value,
                idea_id=body.idea_id,
                title=title,
            )
        )
        return await self._touch(meeting)

    async def update_item(
        self,
        organiser: Principal,
        meeting_id: uuid.UUID,
        item_id: uuid.UUID,
        body: AgendaItemUpdate,
    ) -> Meeting:
        require(organiser, Permission.MANAGE_MEETINGS)
        meeting = await self._meeting(meeting_id, for_update=True)
        item = self._item(meeting, item_id)
        if body.title is not None:
            item.title = body.title
        if body.position is not None:
            ordered = [other for other in meeting.agenda_items if other.id != item.id]
            ordered.insert(min(body.position, len(ordered) + 1) - 1, item)
            for position, other in enumerate(ordered, start=1):
                other.position = position
        return await self._touch(meeting)

    async def remove_item(
        self, organiser: Principal, meeting_id: uuid.UUID, item_id: uuid.UUID
    ) -> Meeting:
        require(organiser, Permission.MANAGE_MEETINGS)
        meeting = await self._meeting(meeting_id, for_update=True)
        item = self._item(meeting, item_id)
        if item.outcome_recorded_at is not None:
            raise Conflict("An agenda item with a recorded outcome stays in the minutes.")
        await self.meetings.delete_item(item)
        for position, other in enumerate(await self.meetings.items(meeting_id), start=1):
            other.position = position
        return await self._touch(meeting)

    @staticmethod
    def _item(meeting: Meeting, item_id: uuid.UUID) -> AgendaItem:
        for item in meeting.agenda_items:
            if item.id == item_id:
                return item
        raise NotFound("No such agenda item in this meeting.")

    async def _touch(self, meeting: Meeting) -> Meeting:
        meeting.updated_at = utc_now()
        await self.session.flush()
        return await self._meeting(meeting.id)

    # -- minutes --------------------------------------------------------------------------------

    async def record_outcome(
        self,
        recorder: Principal,
        meeting_id: uuid.UUID,
        item_id: uuid.UUID,
        body: OutcomeCreate,
    ) -> Meeting:
        require(recorder, Permission.RECORD_OUTCOMES)
        meeting = await self._meeting(meeting_id, for_update=True)
        item = self._item(meeting, item_id)
        if item.outcome_recorded_at is not None:
            raise Conflict("The outcome of this agenda item is recorded already.")
        if body.status is not None:
            if item.idea_id is None:
                raise InvalidInput("A topic without an idea has no status.", field="status")
            await self.ideas.change_status(
                recorder,
                item.idea_id,
                StatusChange(status=body.status, note=body.note, reason=body.reason),
                channel=Channel.CIRCLE,
                meeting_id=meeting.id,
            )
        now = utc_now()
        item.outcome_note = body.note
        item.outcome_status = body.status.value if body.status else None
        item.outcome_reason = body.reason
        item.outcome_recorded_at = now
        item.outcome_recorded_by = recorder.sub
        await self.outbox.add(
            events.meeting_event(
                events.MEETING_OUTCOME_RECORDED,
                meeting.id,
                events.MeetingOutcomeRecordedV1(
                    meeting_id=meeting.id,
                    agenda_item_id=item.id,
                    idea_id=item.idea_id,
                    note=body.note,
                    new_status=body.status,
                    recorded_by=recorder.sub,
                    recorded_at=now,
                ),
            )
        )
        return await self._touch(meeting)
