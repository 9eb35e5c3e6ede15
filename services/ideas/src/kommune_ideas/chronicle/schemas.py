"""Chronicle request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, Field, UrlConstraints

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

LINK_MAX_LENGTH = 2000
"""The column's length (varchar(2000))."""


def _fits_column(url: AnyHttpUrl) -> AnyHttpUrl:
    # Normalising can lengthen a URL (a "/" for an empty path, punycode): check what is stored.
    if len(str(url)) > LINK_MAX_LENGTH:
        raise ValueError(f"The link is longer than {LINK_MAX_LENGTH} characters.")
    return url


Link = Annotated[
    AnyHttpUrl, UrlConstraints(max_length=LINK_MAX_LENGTH - 100), AfterValidator(_fits_column)
]


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
