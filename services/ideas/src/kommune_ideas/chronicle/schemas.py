"""Chronicle request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, Field, UrlConstraints, model_validator

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


class EntryUpdate(InputModel):
    title: Title | None = None
    body: VeryLongText | None = None
    link_url: Link | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> EntryUpdate:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        nulls = sorted(
            n for n in {"title", "body"} & self.model_fields_set if getattr(self, n) is None
        )
        if nulls:
            raise ValueError(f"These fields cannot be null: {', '.join(nulls)}.")
        return self


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
