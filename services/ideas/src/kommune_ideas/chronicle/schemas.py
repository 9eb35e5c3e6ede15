"""Chronicle request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, Field, UrlConstraints

from kommune.schemas import PatchModel
from kommune_ideas.chronicle.models import EntryKind
from kommune_ideas.schema_types import (
    CommentBody,
    InputModel,
    OutputModel,
    PersonOut,
    Title,
    VeryLongText,
)

Link = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000)]


class EntryCreate(InputModel):
    title: Title
    body: VeryLongText
    link_url: Link | None = None


class EntryUpdate(PatchModel):
    nullable_fields = frozenset({"link_url"})

    title: Title | None = None
    body: VeryLongText | None = None
    link_url: Link | None = None


class EntryOut(OutputModel):
    id: uuid.UUID
    kind: EntryKind
    title: str
    body: str
    author: PersonOut | None = Field(description="The editor; null for automatic entries.")
    idea_id: uuid.UUID | None
    link_url: str | None
    comment_count: int
    published_at: datetime
    updated_at: datetime


class ChronicleCommentCreate(InputModel):
    body: CommentBody
    parent_id: uuid.UUID | None = None


class ChronicleReplyOut(OutputModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    parent_id: uuid.UUID | None
    author: PersonOut
    body: str
    created_at: datetime


class ChronicleCommentOut(ChronicleReplyOut):
    replies: list[ChronicleReplyOut] = Field(default_factory=list)
