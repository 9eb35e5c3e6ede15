"""Idea rules: posting, editing, the status workflow, the store's lists and search, history.

Every state change writes its event to the outbox in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_ideas import events
from kommune_ideas.access import Forum, Permission, readable_forums, require
from kommune_ideas.departments.repository import DepartmentRepository
from kommune_ideas.ideas.models import HistoryKind, Idea, IdeaHistoryEntry
from kommune_ideas.ideas.repository import IdeaFilters, IdeaRepository
from kommune_ideas.ideas.schemas import IdeaCreate, IdeaSort, IdeaUpdate, StatusChange
from kommune_ideas.ideas.workflow import (
    Channel,
    IdeaStatus,
    check_edit,
    check_transition,
    may_edit,
    permitted_targets,
)


@dataclass(frozen=True, slots=True)
class IdeaView:
    """An idea as one viewer sees it: forum counts and activity only where they may look."""

    idea: Idea
    comment_count: int | None
    decision_comment_count: int | None
    last_activity_at: datetime


@dataclass(frozen=True, slots=True)
class IdeaDetailView(IdeaView):
    endorsed_by_me: bool
    following: bool
    editable: bool
    allowed_transitions: list[IdeaStatus]


def view_of(idea: Idea, viewer: Principal) -> IdeaView:
    forums = readable_forums(viewer)
    activity = [idea.last_activity_at]
    if Forum.CHANGE_AGENTS in forums and idea.change_agent_activity_at is not None:
        activity.append(idea.change_agent_activity_at)
    if Forum.LEADERS in forums and idea.leaders_activity_at is not None:
        activity.append(idea.leaders_activity_at)
    return IdeaView(
        idea=idea,
        comment_count=(idea.change_agent_comment_count if Forum.CHANGE_AGENTS in forums else None),
        decision_comment_count=idea.leaders_comment_count if Forum.LEADERS in forums else None,
        last_activity_at=max(activity),
    )


class IdeaService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.ideas = IdeaRepository(session)
        self.departments = DepartmentRepository(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- reading --------------------------------------------------------------------------------

    async def get_readable(
        self, viewer: Principal, idea_id: uuid.UUID, *, for_update: bool = False
    ) -> Idea:
        """The idea, if ``viewer`` may read the store; 403 for non-staff, 404 if it is missing."""
        require(viewer, Permission.READ_STORE)
        idea = await self.ideas.get_readable(viewer, idea_id, for_update=for_update)
        if idea is None:
            raise NotFound("No such idea.")
        return idea

    async def browse(
        self,
        viewer: Principal,
        filters: IdeaFilters,
        sort: IdeaSort | None,
        page: PageRequest,
    ) -> tuple[list[IdeaView], str | None]:
        require(viewer, Permission.READ_STORE)
        if sort == IdeaSort.RELEVANCE and not filters.q:
            raise InvalidInput("Sorting by relevance needs a search query (q).", field="sort")
        if sort is None:
            sort = IdeaSort.RELEVANCE if filters.q else IdeaSort.NEWEST
        ideas, next_cursor = await self.ideas.page(viewer, filters, sort, page)
        return [view_of(idea, viewer) for idea in ideas], next_cursor

    async def counts(self, viewer: Principal, filters: IdeaFilters) -> dict[IdeaStatus, int]:
        """Ideas per status (every status present, zeros included) under the list's filters."""
        require(viewer, Permission.READ_STORE)
        found = await self.ideas.count_by_status(viewer, filters)
        return {status: found.get(status.value, 0) for status in IdeaStatus}

    async def detail(self, viewer: Principal, idea_id: uuid.UUID) -> IdeaDetailView:
        require(viewer, Permission.READ_STORE)
        found = await self.ideas.get_for_viewer(viewer, idea_id)
        if found is None:
            raise NotFound("No such idea.")
        idea, endorsed_by_me, following = found
        base = view_of(idea, viewer)
        status = IdeaStatus(idea.status)
        return IdeaDetailView(
            idea=idea,
            comment_count=base.comment_count,
            decision_comment_count=base.decision_comment_count,
            last_activity_at=base.last_activity_at,
            endorsed_by_me=endorsed_by_me,
            following=following,
            editable=may_edit(viewer, author_id=idea.author_id, status=status),
            allowed_transitions=permitted_targets(
                viewer, author_id=idea.author_id, source=status, channel=Channel.DIRECT
            ),
        )

    async def history(
        self, viewer: Principal, idea_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[IdeaHistoryEntry], str | None]:
        await self.get_readable(viewer, idea_id)
        return await self.ideas.history_page(idea_id, page)

    # -- writing --------------------------------------------------------------------------------

    async def _require_department(self, department_id: uuid.UUID) -> None:
        if await self.departments.find(department_id) is None:
            raise InvalidInput("No such department.", field="department_id")

    async def create(
        self, author: Principal, body: IdeaCreate, *, idea_id: uuid.UUID | None = None
    ) -> Idea:
        """Post an idea; ``idea_id`` is given only by the demo loader (its fixed ids)."""
        require(author, Permission.CREATE_IDEA)
        await self._require_department(body.department_id)
        now = utc_now()
        idea = Idea(
            id=idea_id or uuid.uuid4(),
            title=body.title,
            problem_statement=body.problem_statement,
            proposed_solution=body.proposed_solution,
            added_value=body.added_value,
            description=body.description,
            tags=list(body.tags),
            status=IdeaStatus.IDEA.value,
            author_id=author.sub,
            author_name=author.name,
            department_id=body.department_id,
            endorsement_count=0,
            change_agent_comment_count=0,
            leaders_comment_count=0,
            created_at=now,
            updated_at=now,
            status_changed_at=now,
            last_activity_at=now,
        )
        await self.ideas.add(idea)
        await self.ideas.add_history(
            IdeaHistoryEntry(
                idea_id=idea.id,
                kind=HistoryKind.CREATED,
                to_status=IdeaStatus.IDEA.value,
                actor_id=author.sub,
                actor_name=author.name,
                occurred_at=now,
            )
        )
        await self.outbox.add(
            events.idea_event(
                events.IDEA_CREATED,
                idea.id,
                events.IdeaCreatedV1(
                    idea_id=idea.id,
                    title=idea.title,
                    status=IdeaStatus.IDEA,
                    department_id=idea.department_id,
                    author_id=idea.author_id,
                    author_name=idea.author_name,
                    tags=idea.tags,
                    created_at=now,
                ),
            )
        )
        return await self._reload(author, idea.id)

    async def update(self, editor: Principal, idea_id: uuid.UUID, body: IdeaUpdate) -> Idea:
        idea = await self.get_readable(editor, idea_id, for_update=True)
        check_edit(editor, author_id=idea.author_id, status=IdeaStatus(idea.status))
        changes = {
            name: value for name, value in body.changes().items() if getattr(idea, name) != value
        }
        if "department_id" in changes:
            await self._require_department(changes["department_id"])
        if not changes:
            return idea
        now = utc_now()
        for name, value in changes.items():
            setattr(idea, name, list(value) if name == "tags" else value)
        idea.updated_at = now
        idea.last_activity_at = now
        changed = sorted(changes)
        await self.ideas.add_history(
            IdeaHistoryEntry(
                idea_id=idea.id,
                kind=HistoryKind.UPDATED,
                changed_fields=changed,
                actor_id=editor.sub,
                actor_name=editor.name,
                occurred_at=now,
            )
        )
        await self.outbox.add(
            events.idea_event(
                events.IDEA_UPDATED,
                idea.id,
                events.IdeaUpdatedV1(
                    idea_id=idea.id,
                    title=idea.title,
                    changed_fields=changed,
                    updated_by=editor.sub,
                    updated_at=now,
                ),
            )
        )
        await self.session.flush()
        return await self._reload(editor, idea.id)

    async def change_status(
        self,
        actor: Principal,
        idea_id: uuid.UUID,
        change: StatusChange,
        *,
        channel: Channel = Channel.DIRECT,
        meeting_id: uuid.UUID | None = None,
    ) -> Idea:
        """The one way a status changes (the status endpoint and circle minutes both call it)."""
        idea = await self.get_readable(actor, idea_id, for_update=True)
        source = IdeaStatus(idea.status)
        check = check_transition(
            actor,
            author_id=idea.author_id,
            source=source,
            target=change.status,
            channel=channel,
            note=change.note,
            reason=change.reason,
        )
        now = utc_now()
        idea.status = change.status.value
        idea.answer = change.note
        idea.rejection_reason = change.reason if change.status == IdeaStatus.REJECTED else None
        idea.status_changed_at = now
        idea.updated_at = now
        idea.last_activity_at = now
        await self.ideas.add_history(
            IdeaHistoryEntry(
                idea_id=idea.id,
                kind=HistoryKind.STATUS_CHANGED,
                from_status=source.value,
                to_status=change.status.value,
                note=change.note,
                reason=change.reason,
                actor_id=actor.sub,
                actor_name=actor.name,
                meeting_id=meeting_id,
                occurred_at=now,
            )
        )
        await self.outbox.add(
            events.idea_event(
                events.IDEA_STATUS_CHANGED,
                idea.id,
                events.IdeaStatusChangedV1(
                    idea_id=idea.id,
                    title=idea.title,
                    from_status=source,
                    to_status=change.status,
                    note=change.note,
                    reason=change.reason,
                    decision=check.is_decision,
                    changed_by=actor.sub,
                    changed_by_name=actor.name,
                    meeting_id=meeting_id,
                    changed_at=now,
                ),
            )
        )
        await self.session.flush()
        return await self._reload(actor, idea.id)

    async def _reload(self, viewer: Principal, idea_id: uuid.UUID) -> Idea:
        """Read the idea back as stored (generated columns, department) for the response."""
        await self.session.flush()
        statement = self.ideas.readable(viewer).where(Idea.id == idea_id)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one()
