"""Search endpoint (``/api/v1/search``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.schemas import Text
from kommune_documents.access import Permission, requires
from kommune_documents.search.repository import SearchRepository
from kommune_documents.search.schemas import SearchHit

MaySearch = Annotated[Principal, Depends(requires(Permission.SEARCH))]

router = service_router("/api/v1/search", tags=["search"])


@router.get(
    "", summary="Search the documents you may read (German full text, substrings, file numbers)"
)
async def search(
    session: DbSession,
    principal: MaySearch,
    page: PageParams,
    q: Annotated[
        str,
        Text(2, 200),
        Query(description="Words (German stemming), a part of a compound word, or a file number."),
    ],
) -> Page[SearchHit]:
    hits, next_cursor = await SearchRepository(session).search(principal, q, page)
    return Page(items=[SearchHit.model_validate(h) for h in hits], next_cursor=next_cursor)
