"""Idea endpoints: the idea store (list, search, detail), posting, editing, status, history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, status

from kommune.auth.principal import CurrentPrincipal, Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.schemas import SubjectId, Tag
from kommune_ideas.access import Permission, requires
from kommune_ideas.departments.schemas import DepartmentOut
from kommune_ideas.ideas.models import Idea, IdeaHistoryEntry
from kommune_ideas.ideas.repository import IdeaFilters
from kommune_ideas.ideas.schemas import (
    HistoryEntryOut,
    IdeaCounts,
    IdeaCreate,
    IdeaDetail,
    IdeaOut,
    IdeaSort,
    IdeaUpdate,
    SearchQuery,
    StatusChange,
)
from kommune_ideas.ideas.service import IdeaDetailView, IdeaService, IdeaView
from kommune_ideas.ideas.workflow import IdeaStatus
from kommune_ideas.schema_types import PersonOut

MayChangeStatus = Annotated[Principal, Depends(requires(Permission.CHANGE_STATUS))]
MayCreateIdea = Annotated[Principal, Depends(requires(Permission.CREATE_IDEA))]
MayEditIdea = Annotated[Principal, Depends(requires(Permission.EDIT_IDEA))]
MayReadStore = Annotated[Principal, Depends(requires(Permission.READ_STORE))]

router = service_router("/api/v1/ideas", tags=["ideas"])


def _fields(view: IdeaView) -> dict[str, Any]:
    idea = view.idea
    return {
        "id": idea.id,
        "title": idea.title,
        "problem_statement": idea.problem_statement,
        "proposed_solution": idea.proposed_solution,
        "added_value": idea.added_value,
        "description": idea.description,
        "tags": idea.tags,
        "status": idea.status,
        "answer": idea.answer,
        "rejection_reason": idea.rejection_reason,
        "author": PersonOut(id=idea.author_id, name=idea.author_name),
        "department": DepartmentOut.model_validate(idea.department),
        "endorsement_count": idea.endorsement_count,
        "comment_count": view.comment_count,
        "decision_comment_count": view.decision_comment_count,
        "created_at": idea.created_at,
        "updated_at": idea.updated_at,
        "status_changed_at": idea.status_changed_at,
        "last_activity_at": view.last_activity_at,
    }


def idea_out(view: IdeaView) -> IdeaOut:
    return IdeaOut(**_fields(view))


def idea_detail(view: IdeaDetailView) -> IdeaDetail:
    return IdeaDetail(
        **_fields(view),
        endorsed_by_me=view.endorsed_by_me,
        following=view.following,
        editable=view.editable,
        allowed_transitions=view.allowed_transitions,
    )


def history_out(entry: IdeaHistoryEntry) -> HistoryEntryOut:
    return HistoryEntryOut(
        id=entry.id,
        kind=entry.kind,
        from_status=IdeaStatus(entry.from_status) if entry.from_status else None,
        to_status=IdeaStatus(entry.to_status) if entry.to_status else None,
        note=entry.note,
        reason=entry.reason,
        changed_fields=entry.changed_fields,
        actor=PersonOut(id=entry.actor_id, name=entry.actor_name),
        meeting_id=entry.meeting_id,
        occurred_at=entry.occurred_at,
    )


async def _detail(service: IdeaService, principal: Principal, idea: Idea) -> IdeaDetail:
    return idea_detail(await service.detail(principal, idea.id))


async def idea_filters(
    principal: CurrentPrincipal,
    q: Annotated[
        SearchQuery | None,
        Query(
            description="German full-text search over every text field (stems and parts of "
            "compound words)."
        ),
    ] = None,
    status_: Annotated[IdeaStatus | None, Query(alias="status")] = None,
    department_id: uuid.UUID | None = None,
    tag: Tag | None = None,
    author: Annotated[SubjectId | None, Query(description="Author's subject id, or `me`.")] = None,
    following: Annotated[bool, Query(description="Only ideas you follow.")] = False,
) -> IdeaFilters:
    return IdeaFilters(
        status=status_,
        department_id=department_id,
        tag=tag,
        author_id=principal.sub if author == "me" else author,
        following=following,
        q=q,
    )


Filters = Annotated[IdeaFilters, Depends(idea_filters)]
"""The list's filters; ``async def`` although it awaits nothing, so it runs on the event loop
instead of the thread pool (see :data:`kommune.pagination.PageParams`)."""


@router.get("", summary="List and search the idea store")
async def list_ideas(
    session: DbSession,
    principal: MayReadStore,
    page: PageParams,
    filters: Filters,
    sort: Annotated[
        IdeaSort | None,
        Query(description="Default: `relevance` when searching, else `newest`."),
    ] = None,
) -> Page[IdeaOut]:
    views, next_cursor = await IdeaService(session).browse(principal, filters, sort, page)
    return Page(items=[idea_out(view) for view in views], next_cursor=next_cursor)


@router.get("/counts", summary="How many ideas per status (same filters as the list)")
async def count_ideas(session: DbSession, principal: MayReadStore, filters: Filters) -> IdeaCounts:
    by_status = await IdeaService(session).counts(principal, filters)
    return IdeaCounts(total=sum(by_status.values()), by_status=by_status)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Post an idea (change agents)")
async def create_idea(body: IdeaCreate, session: DbSession, principal: MayCreateIdea) -> IdeaDetail:
    service = IdeaService(session)
    idea = await service.create(principal, body)
    return await _detail(service, principal, idea)


@router.get("/{idea_id}", summary="Get an idea with its status and answer")
async def get_idea(idea_id: uuid.UUID, session: DbSession, principal: MayReadStore) -> IdeaDetail:
    return idea_detail(await IdeaService(session).detail(principal, idea_id))


@router.patch("/{idea_id}", summary="Edit an idea (its author, while the status is idea)")
async def update_idea(
    idea_id: uuid.UUID, body: IdeaUpdate, session: DbSession, principal: MayEditIdea
) -> IdeaDetail:
    service = IdeaService(session)
    idea = await service.update(principal, idea_id, body)
    return await _detail(service, principal, idea)


@router.post("/{idea_id}/status", summary="Change the status of an idea, with a note")
async def change_status(
    idea_id: uuid.UUID, body: StatusChange, session: DbSession, principal: MayChangeStatus
) -> IdeaDetail:
    service = IdeaService(session)
    idea = await service.change_status(principal, idea_id, body)
    return await _detail(service, principal, idea)


@router.get("/{idea_id}/history", summary="The idea's history: every step with its note")
async def idea_history(
    idea_id: uuid.UUID, session: DbSession, principal: MayReadStore, page: PageParams
) -> Page[HistoryEntryOut]:
    entries, next_cursor = await IdeaService(session).history(principal, idea_id, page)
    return Page(items=[history_out(entry) for entry in entries], next_cursor=next_cursor)
