"""Comment endpoints of both forums of an idea."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams, PageRequest
from kommune.routing import service_router
from kommune_ideas.access import Forum, Permission, requires
from kommune_ideas.comments.models import Comment
from kommune_ideas.comments.schemas import CommentCreate, CommentOut, ReplyOut
from kommune_ideas.comments.service import CommentService
from kommune_ideas.schema_types import PersonOut

MayChangeAgentForum = Annotated[Principal, Depends(requires(Permission.CHANGE_AGENT_FORUM))]
MayLeadersForum = Annotated[Principal, Depends(requires(Permission.LEADERS_FORUM))]

router = service_router("/api/v1/ideas/{idea_id}", tags=["comments"])


def reply_out(comment: Comment) -> ReplyOut:
    return ReplyOut(
        id=comment.id,
        idea_id=comment.idea_id,
        forum=Forum(comment.forum),
        parent_id=comment.parent_id,
        author=PersonOut(id=comment.author_id, name=comment.author_name),
        body=comment.body,
        created_at=comment.created_at,
    )


def comment_out(comment: Comment, replies: list[Comment]) -> CommentOut:
    return CommentOut(
        **reply_out(comment).model_dump(), replies=[reply_out(reply) for reply in replies]
    )


async def _list(
    session: DbSession,
    principal: Principal,
    idea_id: uuid.UUID,
    forum: Forum,
    page: PageRequest,
) -> Page[CommentOut]:
    threads, next_cursor = await CommentService(session).threads(principal, idea_id, forum, page)
    return Page(
        items=[comment_out(comment, replies) for comment, replies in threads],
        next_cursor=next_cursor,
    )


@router.get("/comments", summary="The change agents' discussion of an idea")
async def list_comments(
    idea_id: uuid.UUID, session: DbSession, principal: MayChangeAgentForum, page: PageParams
) -> Page[CommentOut]:
    return await _list(session, principal, idea_id, Forum.CHANGE_AGENTS, page)


@router.post(
    "/comments", status_code=status.HTTP_201_CREATED, summary="Comment in the change agents' forum"
)
async def add_comment(
    idea_id: uuid.UUID, body: CommentCreate, session: DbSession, principal: MayChangeAgentForum
) -> CommentOut:
    comment = await CommentService(session).add(principal, idea_id, Forum.CHANGE_AGENTS, body)
    return comment_out(comment, [])


@router.get("/decision-comments", summary="The leaders' discussion of an idea")
async def list_decision_comments(
    idea_id: uuid.UUID, session: DbSession, principal: MayLeadersForum, page: PageParams
) -> Page[CommentOut]:
    return await _list(session, principal, idea_id, Forum.LEADERS, page)


@router.post(
    "/decision-comments",
    status_code=status.HTTP_201_CREATED,
    summary="Comment in the leaders' forum (while the idea is for decision)",
)
async def add_decision_comment(
    idea_id: uuid.UUID, body: CommentCreate, session: DbSession, principal: MayLeadersForum
) -> CommentOut:
    comment = await CommentService(session).add(principal, idea_id, Forum.LEADERS, body)
    return comment_out(comment, [])
