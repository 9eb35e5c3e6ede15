"""The search query: German full text, trigram substrings, exact file numbers, the caller's
access as part of the WHERE clause (a hit the caller may not read is never even counted)."""

from __future__ import annotations

import html
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, false, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint, paginate
from kommune_documents.documents.models import Document
from kommune_documents.files.models import CaseFile
from kommune_documents.files.repository import readable

GERMAN: ColumnElement[Any] = literal_column("'german'::regconfig")
START, STOP = "\ue000", "\ue001"
"""Private-use marks around matches, turned into ``<mark>`` after the text is escaped."""
HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=30, MinWords=10"


def _like_pattern(query: str) -> str:
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _to_html(headline: str) -> str:
    return html.escape(headline).replace(START, "<mark>").replace(STOP, "</mark>")


class SearchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def search(
        self, principal: Principal, query: str, page: PageRequest
    ) -> tuple[list[dict[str, Any]], str | None]:
        tsquery = func.websearch_to_tsquery(GERMAN, query)
        rank: ColumnElement[float] = cast(
            func.ts_rank(Document.search_vector, tsquery)
            + func.similarity(func.lower(Document.title), query.lower()),
            Float,
        )
        # The file number first, on its unique index: then the three conditions are all on
        # ``documents`` and PostgreSQL combines their indexes (BitmapOr) instead of scanning.
        numbered = list(
            (
                await self.session.execute(select(CaseFile.id).where(CaseFile.file_number == query))
            ).scalars()
        )
        exact = Document.file_id.in_(numbered) if numbered else false()
        statement = (
            select(Document)
            .join(CaseFile, CaseFile.id == Document.file_id)
            .where(readable(principal))
            .where(
                or_(
                    Document.search_vector.op("@@")(tsquery),
                    Document.search_text.like(_like_pattern(query), escape="\\"),
                    exact,
                )
            )
        )
        ordering = Ordering(
            "rank",
            (
                SortKey(func.coalesce(rank, 0.0) + case((exact, 10.0), else_=0.0), "float"),
                SortKey(Document.id, "uuid"),
            ),
        )
        documents, next_cursor = await paginate(
            self.session, statement, ordering, page, filters=fingerprint(principal.sub, query)
        )
        if not documents:
            return [], next_cursor
        ids: list[uuid.UUID] = [d.id for d in documents]
        snippets = await self.session.execute(
            select(
                Document.id,
                CaseFile.file_number,
                func.ts_headline(
                    GERMAN,
                    Document.title + ". " + func.left(Document.content_text, 20_000),
                    tsquery,
                    HEADLINE_OPTIONS,
                ),
            )
            .join(CaseFile, CaseFile.id == Document.file_id)
            .where(Document.id.in_(ids))
        )
        extra = {row[0]: (row[1], row[2]) for row in snippets.all()}
        hits = [
            {
                "document_id": d.id,
                "file_id": d.file_id,
                "file_number": extra[d.id][0],
                "title": d.title,
                "snippet": _to_html(extra[d.id][1] or ""),
            }
            for d in documents
        ]
        return hits, next_cursor
