"""Comment request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from kommune_ideas.access import Forum
from kommune_ideas.schema_types import CommentBody, InputModel, OutputModel, PersonOut


class CommentCreate(InputModel):
    body: CommentBody
    parent_id: uuid.UUID | None = Field(
        default=None, description="Reply to this top-level comment (one level of replies)."
    )


class ReplyOut(OutputModel):
    id: uuid.UUID
    idea_id: uuid.UUID
    forum: Forum
    parent_id: uuid.UUID | None
    author: PersonOut
    body: str
    created_at: datetime


class CommentOut(ReplyOut):
    replies: list[ReplyOut] = Field(
        default_factory=list, description="Replies, oldest first (top-level comments only)."
    )
