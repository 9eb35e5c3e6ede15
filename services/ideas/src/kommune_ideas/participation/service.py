"""Participation rules: one endorsement per person and idea (withdrawable); follow/unfollow."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, NotFound
from kommune.events.outbox import Outbox
from kommune_ideas import events
from kommune_ideas.access import Permission, require
from kommune_ideas.ideas.service import IdeaService
from kommune_ideas.participation.repository import ParticipationRepository
from kommune_ideas.participation.schemas import EndorsementOut


class ParticipationService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = ParticipationRepository(session)
        self.ideas = IdeaService(session)
        self.outbox = Outbox(session, events.SOURCE)

    async def endorse(self, person: Principal, idea_id: uuid.UUID) -> EndorsementOut:
        require(person, Permission.ENDORSE)
        await self.ideas.get_readable(person, idea_id)
        now = utc_now()
        if not await self.repository.add_endorsement(idea_id, person.sub, now):
            raise Conflict("You endorsed this idea already.")
        count = await self.ideas.ideas.change_endorsement_count(idea_id, +1, now)
        await self.outbox.add(
            events.idea_event(
                events.IDEA_ENDORSED,
                idea_id,
                events.IdeaEndorsedV1(idea_id=idea_id, endorsement_count=count, endorsed_at=now),
            )
        )
        return EndorsementOut(idea_id=idea_id, endorsed_by_me=True, endorsement_count=count)

    async def withdraw(self, person: Principal, idea_id: uuid.UUID) -> None:
        require(person, Permission.ENDORSE)
        await self.ideas.get_readable(person, idea_id)
        if not await self.repository.remove_endorsement(idea_id, person.sub):
            raise NotFound("You have not endorsed this idea.")
        now = utc_now()
        count = await self.ideas.ideas.change_endorsement_count(idea_id, -1, now)
        await self.outbox.add(
            events.idea_event(
                events.IDEA_ENDORSEMENT_WITHDRAWN,
                idea_id,
                events.IdeaEndorsementWithdrawnV1(
                    idea_id=idea_id, endorsement_count=count, withdrawn_at=now
                ),
            )
        )

    async def follow(self, person: Principal, idea_id: uuid.UUID) -> None:
        require(person, Permission.FOLLOW)
        await self.ideas.get_readable(person, idea_id)
        await self.repository.add_follow(idea_id, person.sub, utc_now())

    async def unfollow(self, person: Principal, idea_id: uuid.UUID) -> None:
        require(person, Permission.FOLLOW)
        await self.ideas.get_readable(person, idea_id)
        await self.repository.remove_follow(idea_id, person.sub)
