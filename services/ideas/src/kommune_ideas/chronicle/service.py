"""Chronicle rules: staff read and comment, editors write news, the service writes the rest."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_ideas import events
from kommune_ideas.access import Permission, require
from kommune_ideas.chronicle.models import ChronicleComment, ChronicleEntry, EntryKind
from kommune_ideas.chronicle.repository import ChronicleRepository
from kommune_ideas.chronicle.schemas import ChronicleCommentCreate, EntryCreate, EntryUpdate

TITLE_LIMIT = 200


def clip(text: str, limit: int = TITLE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class ChronicleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.entries = ChronicleRepository(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- reading --------------------------------------------------------------------------------

    async def browse(
        self, viewer: Principal, kind: EntryKind | None, page: PageRequest
    ) -> tuple[list[ChronicleEntry], str | None]:
        require(viewer, Permission.READ_CHRONICLE)
        return await self.entries.page(viewer, kind, page)

    async def get(
        self, viewer: Principal, entry_id: uuid.UUID, *, for_update: bool = False
    ) -> ChronicleEntry:
        require(viewer, Permission.READ_CHRONICLE)
        entry = await self.entries.get_readable(viewer, entry_id, for_update=for_update)
        if entry is None:
            raise NotFound("No such chronicle entry.")
        return entry

    # -- writing --------------------------------------------------------------------------------

    async def publish(
        self, editor: Principal, body: EntryCreate, *, entry_id: uuid.UUID | None = None
    ) -> ChronicleEntry:
        """Publish news; ``entry_id`` is given only by the demo loader (its fixed ids)."""
        require(editor, Permission.EDIT_CHRONICLE)
        now = utc_now()
        entry = await self.entries.add(
            ChronicleEntry(
                id=entry_id or uuid.uuid4(),
                kind=EntryKind.NEWS.value,
                title=body.title,
                body=body.body,
                author_id=editor.sub,
                author_name=editor.name,
                link_url=str(body.link_url) if body.link_url else None,
                comment_count=0,
                published_at=now,
                updated_at=now,
            )
        )
        await self._announce(entry)
        return entry

    async def update(
        self, editor: Principal, entry_id: uuid.UUID, body: EntryUpdate
    ) -> ChronicleEntry:
        require(editor, Permission.EDIT_CHRONICLE)
        entry = await self.get(editor, entry_id, for_update=True)
        for name in body.model_fields_set:
            value = getattr(body, name)
            setattr(entry, name, str(value) if name == "link_url" and value else value)
        entry.updated_at = utc_now()
        await self.session.flush()
        return entry

    async def publish_automatic(
        self,
        *,
        kind: EntryKind,
        title: str,
        body: str,
        source_event_id: str,
        idea_id: uuid.UUID | None = None,
        link_url: str | None = None,
    ) -> ChronicleEntry | None:
        """Write an entry the service composes from an event; once per event (None if done)."""
        now = utc_now()
        entry = ChronicleEntry(
            id=uuid.uuid4(),
            kind=kind.value,
            title=clip(title),
            body=body,
            idea_id=idea_id,
            link_url=link_url,
            source_event_id=source_event_id,
            comment_count=0,
            published_at=now,
            updated_at=now,
        )
        if not await self.entries.add_once(entry):
            return None
        await self._announce(entry)
        return entry

    async def _announce(self, entry: ChronicleEntry) -> None:
        await self.outbox.add(
            events.chronicle_event(
                events.CHRONICLE_PUBLISHED,
                entry.id,
                events.ChroniclePublishedV1(
                    entry_id=entry.id,
                    kind=entry.kind,
                    title=entry.title,
                    idea_id=entry.idea_id,
                    source_event_id=entry.source_event_id,
                    published_at=entry.published_at,
                ),
            )
        )

    # -- comments -------------------------------------------------------------------------------

    async def threads(
        self, viewer: Principal, entry_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[tuple[ChronicleComment, list[ChronicleComment]]], str | None]:
        await self.get(viewer, entry_id)
        return await self.entries.threads(entry_id, page)

    async def comment(
        self, author: Principal, entry_id: uuid.UUID, body: ChronicleCommentCreate
    ) -> ChronicleComment:
        require(author, Permission.COMMENT_CHRONICLE)
        await self.get(author, entry_id, for_update=True)
        if body.parent_id is not None:
            parent = await self.entries.get_comment(body.parent_id)
            if parent is None or parent.entry_id != entry_id:
                raise InvalidInput("parent_id is not a comment of this entry.", field="parent_id")
            if parent.parent_id is not None:
                raise InvalidInput(
                    "Replies take no replies: answer the top-level comment.", field="parent_id"
                )
        now = utc_now()
        comment = await self.entries.add_comment(
            ChronicleComment(
                id=uuid.uuid4(),
                entry_id=entry_id,
                parent_id=body.parent_id,
                author_id=author.sub,
                author_name=author.name,
                body=body.body,
                created_at=now,
            )
        )
        await self.outbox.add(
            events.chronicle_event(
                events.CHRONICLE_COMMENTED,
                entry_id,
                events.ChronicleCommentedV1(
                    entry_id=entry_id,
                    comment_id=comment.id,
                    parent_id=comment.parent_id,
                    author_id=author.sub,
                    created_at=now,
                ),
            )
        )
        return comment
