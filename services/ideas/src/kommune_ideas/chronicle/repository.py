"""Chronicle queries."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import Select, false, select, update
from sqlalchemy.dialects.postgresql import insert

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_ideas.access import Permission, can
from kommune_ideas.chronicle.models import ChronicleComment, ChronicleEntry, EntryKind

LATEST_FIRST = Ordering(
    "latest_first",
    (SortKey(ChronicleEntry.published_at, "datetime"), SortKey(ChronicleEntry.id, "uuid")),
)
OLDEST_FIRST = Ordering(
    "oldest_first",
    (
        SortKey(ChronicleComment.created_at, "datetime", descending=False),
        SortKey(ChronicleComment.id, "uuid", descending=False),
    ),
)


class ChronicleRepository(Repository[ChronicleEntry]):
    model = ChronicleEntry
    not_found = "No such chronicle entry."

    @staticmethod
    def readable(viewer: Principal) -> Select[ChronicleEntry]:
        statement = select(ChronicleEntry)
        if not can(viewer, Permission.READ_CHRONICLE):
            statement = statement.where(false())
        return statement

    async def get_readable(
        self, viewer: Principal, entry_id: uuid.UUID, *, for_update: bool = False
    ) -> ChronicleEntry | None:
        statement = self.readable(viewer).where(ChronicleEntry.id == entry_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self, viewer: Principal, kind: EntryKind | None, page: PageRequest
    ) -> tuple[list[ChronicleEntry], str | None]:
        statement = self.readable(viewer)
        if kind is not None:
            statement = statement.where(ChronicleEntry.kind == kind.value)
        return await self.paginate(statement, LATEST_FIRST, page, filters=fingerprint(kind))

    async def add(self, entry: ChronicleEntry) -> ChronicleEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def add_once(self, entry: ChronicleEntry) -> bool:
        """Insert an automatic entry unless one for the same source event exists (True if new)."""
        values = {
            column.key: getattr(entry, column.key)
            for column in ChronicleEntry.__table__.columns
            if getattr(entry, column.key, None) is not None
        }
        statement = (
            insert(ChronicleEntry)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["source_event_id"])
            .returning(ChronicleEntry.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def get_by_source_event(self, event_id: str) -> ChronicleEntry | None:
        statement = select(ChronicleEntry).where(ChronicleEntry.source_event_id == event_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    # -- comments -------------------------------------------------------------------------------

    async def get_comment(self, comment_id: uuid.UUID) -> ChronicleComment | None:
        return await self.session.get(ChronicleComment, comment_id)

    async def add_comment(self, comment: ChronicleComment) -> ChronicleComment:
        self.session.add(comment)
        await self.session.flush()
        await self.session.execute(
            update(ChronicleEntry)
            .where(ChronicleEntry.id == comment.entry_id)
            .values(comment_count=ChronicleEntry.comment_count + 1)
            .execution_options(synchronize_session=False)
        )
        return comment

    async def threads(
        self, entry_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[tuple[ChronicleComment, list[ChronicleComment]]], str | None]:
        statement = select(ChronicleComment).where(
            ChronicleComment.entry_id == entry_id, ChronicleComment.parent_id.is_(None)
        )
        top, next_cursor = await self.paginate(
            statement, OLDEST_FIRST, page, filters=fingerprint(entry_id)
        )
        replies: dict[uuid.UUID, list[ChronicleComment]] = defaultdict(list)
        if top:
            reply_statement = (
                select(ChronicleComment)
                .where(ChronicleComment.parent_id.in_([c.id for c in top]))
                .order_by(ChronicleComment.created_at, ChronicleComment.id)
            )
            for reply in (await self.session.execute(reply_statement)).scalars():
                assert reply.parent_id is not None
                replies[reply.parent_id].append(reply)
        return [(c, replies[c.id]) for c in top], next_cursor
