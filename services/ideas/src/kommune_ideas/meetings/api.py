"""Innovation circle endpoints: meetings, agenda, minutes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_ideas.access import Permission, requires
from kommune_ideas.ideas.workflow import IdeaStatus
from kommune_ideas.meetings.models import AgendaItem, AgendaItemKind, Meeting
from kommune_ideas.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemOut,
    AgendaItemUpdate,
    MeetingCreate,
    MeetingOut,
    MeetingPeriod,
    MeetingSummary,
    MeetingUpdate,
    OutcomeCreate,
    OutcomeOut,
    ParticipantOut,
)
from kommune_ideas.meetings.service import MeetingService

MayManageMeetings = Annotated[Principal, Depends(requires(Permission.MANAGE_MEETINGS))]
MayReadMeetings = Annotated[Principal, Depends(requires(Permission.READ_MEETINGS))]
MayRecordOutcomes = Annotated[Principal, Depends(requires(Permission.RECORD_OUTCOMES))]

router = service_router("/api/v1/meetings", tags=["innovation circles"])


def item_out(item: AgendaItem) -> AgendaItemOut:
    outcome = None
    if item.outcome_recorded_at is not None:
        assert item.outcome_note is not None
        assert item.outcome_recorded_by is not None
        outcome = OutcomeOut(
            note=item.outcome_note,
            new_status=IdeaStatus(item.outcome_status) if item.outcome_status else None,
            reason=item.outcome_reason,
            recorded_by=item.outcome_recorded_by,
            recorded_at=item.outcome_recorded_at,
        )
    return AgendaItemOut(
        id=item.id,
        position=item.position,
        kind=AgendaItemKind(item.kind),
        idea_id=item.idea_id,
        title=item.title,
        outcome=outcome,
    )


def summary_out(meeting: Meeting) -> MeetingSummary:
    return MeetingSummary(
        id=meeting.id,
        title=meeting.title,
        scheduled_at=meeting.scheduled_at,
        location=meeting.location,
        participants=[ParticipantOut.model_validate(p) for p in meeting.participants],
        created_by=meeting.created_by,
        created_at=meeting.created_at,
        updated_at=meeting.updated_at,
    )


def meeting_out(meeting: Meeting) -> MeetingOut:
    return MeetingOut(
        **summary_out(meeting).model_dump(),
        minutes=meeting.minutes,
        agenda=[item_out(item) for item in meeting.agenda_items],
    )


@router.get("", summary="List innovation circles")
async def list_meetings(
    session: DbSession,
    principal: MayReadMeetings,
    page: PageParams,
    period: Annotated[MeetingPeriod | None, Query()] = None,
) -> Page[MeetingSummary]:
    meetings, next_cursor = await MeetingService(session).browse(principal, period, page)
    return Page(items=[summary_out(m) for m in meetings], next_cursor=next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Schedule an innovation circle (the agenda is proposed automatically)",
)
async def schedule_meeting(
    body: MeetingCreate, session: DbSession, principal: MayManageMeetings
) -> MeetingOut:
    return meeting_out(await MeetingService(session).schedule(principal, body))


@router.get("/{meeting_id}", summary="A circle with its agenda and minutes")
async def get_meeting(
    meeting_id: uuid.UUID, session: DbSession, principal: MayReadMeetings
) -> MeetingOut:
    return meeting_out(await MeetingService(session).get(principal, meeting_id))


@router.patch("/{meeting_id}", summary="Edit a circle (date, place, participants, minutes)")
async def update_meeting(
    meeting_id: uuid.UUID, body: MeetingUpdate, session: DbSession, principal: MayManageMeetings
) -> MeetingOut:
    return meeting_out(await MeetingService(session).update(principal, meeting_id, body))


@router.post(
    "/{meeting_id}/agenda-items",
    status_code=status.HTTP_201_CREATED,
    summary="Add an idea or a topic to the agenda",
)
async def add_agenda_item(
    meeting_id: uuid.UUID,
    body: AgendaItemCreate,
    session: DbSession,
    principal: MayManageMeetings,
) -> MeetingOut:
    return meeting_out(await MeetingService(session).add_item(principal, meeting_id, body))


@router.patch("/{meeting_id}/agenda-items/{item_id}", summary="Rename or move an agenda item")
async def update_agenda_item(
    meeting_id: uuid.UUID,
    item_id: uuid.UUID,
    body: AgendaItemUpdate,
    session: DbSession,
    principal: MayManageMeetings,
) -> MeetingOut:
    service = MeetingService(session)
    return meeting_out(await service.update_item(principal, meeting_id, item_id, body))


@router.delete("/{meeting_id}/agenda-items/{item_id}", summary="Remove an agenda item")
async def remove_agenda_item(
    meeting_id: uuid.UUID, item_id: uuid.UUID, session: DbSession, principal: MayManageMeetings
) -> MeetingOut:
    return meeting_out(await MeetingService(session).remove_item(principal, meeting_id, item_id))


@router.post(
    "/{meeting_id}/agenda-items/{item_id}/outcome",
    summary="Record the outcome of an agenda item (and perform its status change)",
)
async def record_outcome(
    meeting_id: uuid.UUID,
    item_id: uuid.UUID,
    body: OutcomeCreate,
    session: DbSession,
    principal: MayRecordOutcomes,
) -> MeetingOut:
    service = MeetingService(session)
    return meeting_out(await service.record_outcome(principal, meeting_id, item_id, body))
