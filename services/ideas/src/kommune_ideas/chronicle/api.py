"""Chronicle endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_ideas.access import Permission, requires
from kommune_ideas.chronicle.models import ChronicleComment, ChronicleEntry, EntryKind
from kommune_ideas.chronicle.schemas import (
    ChronicleCommentCreate,
    ChronicleCommentOut,
    ChronicleReplyOut,
    EntryCreate,
    EntryOut,
    EntryUpdate,
)
from kommune_ideas.chronicle.service import ChronicleService
from kommune_ideas.schema_types import PersonOut

MayCommentChronicle = Annotated[Principal, Depends(requires(Permission.COMMENT_CHRONICLE))]
MayEditChronicle = Annotated[Principal, Depends(requires(Permission.EDIT_CHRONICLE))]
MayReadChronicle = Annotated[Principal, Depends(requires(Permission.READ_CHRONICLE))]

router = service_router("/api/v1/chronicle", tags=["chronicle"])


def entry_out(entry: ChronicleEntry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        kind=EntryKind(entry.kind),
        title=entry.title,
        body=entry.body,
        author=(PersonOut(id=entry.author_id, name=entry.author_name) if entry.author_id else None),
        idea_id=entry.idea_id,
        link_url=entry.link_url,
        comment_count=entry.comment_count,
        published_at=entry.published_at,
        updated_at=entry.updated_at,
    )


def reply_out(comment: ChronicleComment) -> ChronicleReplyOut:
    return ChronicleReplyOut(
        id=comment.id,
        entry_id=comment.entry_id,
        parent_id=comment.parent_id,
        author=PersonOut(id=comment.author_id, name=comment.author_name),
        body=comment.body,
        created_at=comment.created_at,
    )


@router.get("", summary="The chronicle, latest first")
async def list_entries(
    session: DbSession,
    principal: MayReadChronicle,
    page: PageParams,
    kind: Annotated[EntryKind | None, Query()] = None,
) -> Page[EntryOut]:
    entries, next_cursor = await ChronicleService(session).browse(principal, kind, page)
    return Page(items=[entry_out(e) for e in entries], next_cursor=next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Publish news (editors)")
async def publish_entry(
    body: EntryCreate, session: DbSession, principal: MayEditChronicle
) -> EntryOut:
    return entry_out(await ChronicleService(session).publish(principal, body))


@router.get("/{entry_id}", summary="A chronicle entry")
async def get_entry(
    entry_id: uuid.UUID, session: DbSession, principal: MayReadChronicle
) -> EntryOut:
    return entry_out(await ChronicleService(session).get(principal, entry_id))


@router.patch("/{entry_id}", summary="Edit a chronicle entry (editors)")
async def update_entry(
    entry_id: uuid.UUID, body: EntryUpdate, session: DbSession, principal: MayEditChronicle
) -> EntryOut:
    return entry_out(await ChronicleService(session).update(principal, entry_id, body))


@router.get("/{entry_id}/comments", summary="Comments on a chronicle entry")
async def list_entry_comments(
    entry_id: uuid.UUID, session: DbSession, principal: MayReadChronicle, page: PageParams
) -> Page[ChronicleCommentOut]:
    threads, next_cursor = await ChronicleService(session).threads(principal, entry_id, page)
    return Page(
        items=[
            ChronicleCommentOut(
                **reply_out(c).model_dump(), replies=[reply_out(r) for r in replies]
            )
            for c, replies in threads
        ],
        next_cursor=next_cursor,
    )


@router.post(
    "/{entry_id}/comments", status_code=status.HTTP_201_CREATED, summary="Comment on an entry"
)
async def add_entry_comment(
    entry_id: uuid.UUID,
    body: ChronicleCommentCreate,
    session: DbSession,
    principal: MayCommentChronicle,
) -> ChronicleCommentOut:
    comment = await ChronicleService(session).comment(principal, entry_id, body)
    return ChronicleCommentOut(**reply_out(comment).model_dump())
