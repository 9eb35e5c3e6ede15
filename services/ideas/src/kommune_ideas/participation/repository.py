"""Endorsement and follow queries (insert-or-nothing, so a double click is not a 500)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommune_ideas.participation.models import Endorsement, Follow


class ParticipationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_endorsement(self, idea_id: uuid.UUID, user_id: str, at: datetime) -> bool:
        """True if this is the person's endorsement, False if they had endorsed already."""
        statement = (
            insert(Endorsement)
            .values(idea_id=idea_id, user_id=user_id, created_at=at)
            .on_conflict_do_nothing(index_elements=["idea_id", "user_id"])
            .returning(Endorsement.idea_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def remove_endorsement(self, idea_id: uuid.UUID, user_id: str) -> bool:
        statement = (
            delete(Endorsement)
            .where(Endorsement.idea_id == idea_id, Endorsement.user_id == user_id)
            .returning(Endorsement.idea_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def add_follow(self, idea_id: uuid.UUID, user_id: str, at: datetime) -> None:
        await self.session.execute(
            insert(Follow)
            .values(idea_id=idea_id, user_id=user_id, created_at=at)
            .on_conflict_do_nothing(index_elements=["idea_id", "user_id"])
        )

    async def remove_follow(self, idea_id: uuid.UUID, user_id: str) -> None:
        await self.session.execute(
            delete(Follow).where(Follow.idea_id == idea_id, Follow.user_id == user_id)
        )
