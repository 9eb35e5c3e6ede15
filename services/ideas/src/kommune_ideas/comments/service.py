"""Comment rules: who reads and writes which forum, one level of replies, events without text."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_ideas import events
from kommune_ideas.access import Forum, require_forum
from kommune_ideas.comments.models import Comment
from kommune_ideas.comments.repository import CommentRepository
from kommune_ideas.comments.schemas import CommentCreate
from kommune_ideas.ideas.service import IdeaService
from kommune_ideas.ideas.workflow import LEADERS_FORUM_OPEN, IdeaStatus


class CommentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.comments = CommentRepository(session)
        self.ideas = IdeaService(session)
        self.outbox = Outbox(session, events.SOURCE)

    async def threads(
        self, viewer: Principal, idea_id: uuid.UUID, forum: Forum, page: PageRequest
    ) -> tuple[list[tuple[Comment, list[Comment]]], str | None]:
        require_forum(viewer, forum)
        await self.ideas.get_readable(viewer, idea_id)
        return await self.comments.threads(viewer, idea_id, forum, page)

    async def add(
        self, author: Principal, idea_id: uuid.UUID, forum: Forum, body: CommentCreate
    ) -> Comment:
        require_forum(author, forum)
        # Row lock: the leaders' forum closes with the decision, not in the middle of a comment.
        idea = await self.ideas.get_readable(author, idea_id, for_update=True)
        if forum == Forum.LEADERS and IdeaStatus(idea.status) not in LEADERS_FORUM_OPEN:
            raise Conflict(
                "The leaders discuss an idea only while it is up for decision "
                f"(status 'for_decision'); this one is '{idea.status}'.",
                current_status=idea.status,
            )
        if body.parent_id is not None:
            parent = await self.comments.get_readable(author, body.parent_id)
            if parent is None or parent.idea_id != idea_id or parent.forum != forum.value:
                raise InvalidInput(
                    "parent_id is not a comment of this forum of this idea.", field="parent_id"
                )
            if parent.parent_id is not None:
                raise InvalidInput(
                    "Replies take no replies: answer the top-level comment.", field="parent_id"
                )
        now = utc_now()
        comment = await self.comments.add(
            Comment(
                id=uuid.uuid4(),
                idea_id=idea_id,
                forum=forum.value,
                parent_id=body.parent_id,
                author_id=author.sub,
                author_name=author.name,
                body=body.body,
                created_at=now,
            )
        )
        await self.ideas.ideas.record_forum_comment(idea_id, forum, now)
        await self.outbox.add(
            events.idea_event(
                events.IDEA_COMMENTED,
                idea_id,
                events.IdeaCommentedV1(
                    idea_id=idea_id,
                    comment_id=comment.id,
                    parent_id=comment.parent_id,
                    forum=forum,
                    author_id=author.sub,
                    created_at=now,
                ),
            )
        )
        return comment
