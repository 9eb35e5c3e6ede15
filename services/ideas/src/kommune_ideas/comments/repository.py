"""Comment queries; the forums a viewer may read are part of every statement."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import Select, select

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_ideas.access import Forum, readable_forums
from kommune_ideas.comments.models import Comment

OLDEST_FIRST = Ordering(
    "oldest_first",
    (
        SortKey(Comment.created_at, "datetime", descending=False),
        SortKey(Comment.id, "uuid", descending=False),
    ),
)


class CommentRepository(Repository[Comment]):
    model = Comment
    not_found = "No such comment."

    @staticmethod
    def readable(viewer: Principal) -> Select[Comment]:
        """Comments of the forums ``viewer`` may read (none for most staff)."""
        forums = sorted(str(forum) for forum in readable_forums(viewer))
        return select(Comment).where(Comment.forum.in_(forums))

    async def get_readable(self, viewer: Principal, comment_id: uuid.UUID) -> Comment | None:
        statement = self.readable(viewer).where(Comment.id == comment_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def threads(
        self, viewer: Principal, idea_id: uuid.UUID, forum: Forum, page: PageRequest
    ) -> tuple[list[tuple[Comment, list[Comment]]], str | None]:
        """Top-level comments (one page, oldest first), each with all of its replies."""
        statement = self.readable(viewer).where(
            Comment.idea_id == idea_id, Comment.forum == forum.value, Comment.parent_id.is_(None)
        )
        top, next_cursor = await self.paginate(
            statement, OLDEST_FIRST, page, filters=fingerprint(idea_id, forum)
        )
        replies: dict[uuid.UUID, list[Comment]] = defaultdict(list)
        if top:
            reply_statement = (
                self.readable(viewer)
                .where(Comment.parent_id.in_([comment.id for comment in top]))
                .order_by(Comment.created_at, Comment.id)
            )
            for reply in (await self.session.execute(reply_statement)).scalars():
                assert reply.parent_id is not None
                replies[reply.parent_id].append(reply)
        return [(comment, replies[comment.id]) for comment in top], next_cursor

    async def add(self, comment: Comment) -> Comment:
        self.session.add(comment)
        await self.session.flush()
        return comment
