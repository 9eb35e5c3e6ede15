"""Keyset (cursor) pagination for every list of the service.

A list is a SQL statement plus an :class:`Ordering`: sort keys ending with a unique column (the
id), so every row has exactly one position and a page never repeats or skips a row when rows are
added between requests. The cursor is opaque to clients: URL-safe base64 of the ordering's name,
a fingerprint of the filters and the sort-key values of the last row. A cursor that was tampered
with, belongs to another ordering or to other filters is rejected with a 422 problem.

Keyset instead of OFFSET: a deep page costs the same as the first one (see ``bench/``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, false, literal, or_, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from kommune.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 1024

KeyKind = Literal["datetime", "int", "float", "uuid", "str"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SortKey:
    column: ColumnElement[Any] | QueryableAttribute[Any]
    kind: KeyKind
    descending: bool = True

    @property
    def expression(self) -> ColumnElement[Any]:
        column = self.column
        return column.expression if isinstance(column, QueryableAttribute) else column


@dataclass(frozen=True, slots=True)
class Ordering:
    """A named sort order; the last key must be unique (the primary key)."""

    name: str
    keys: tuple[SortKey, ...]

    def order_by(self) -> list[ColumnElement[Any]]:
        return [
            key.expression.desc() if key.descending else key.expression.asc() for key in self.keys
        ]


@dataclass(frozen=True, slots=True)
class PageRequest:
    cursor: str | None
    limit: int


async def page_request(
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="Opaque cursor from the previous page's `next_cursor`.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(cursor=cursor or None, limit=limit)


PageParams = Annotated[PageRequest, Depends(page_request)]
"""``?cursor=&limit=`` (default 20, at most 100) of every list endpoint.

Dependencies that do no I/O are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
in the thread pool, a hop that cost ~0.2 ms per dependency and request here (``bench/``)."""


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is ``null`` on the last page."""

    items: list[T]
    next_cursor: str | None


def fingerprint(*parts: object) -> str:
    """A short digest of the filters a cursor was issued for (a cursor only works with them)."""
    raw = json.dumps([str(part) for part in parts], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# -- cursor codec ------------------------------------------------------------------------------


def _encode_value(kind: KeyKind, value: Any) -> Any:
    if kind == "datetime":
        assert isinstance(value, datetime)
        assert value.tzinfo is not None
        return value.isoformat()
    if kind == "uuid":
        return str(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return str(value)


def _decode_value(kind: KeyKind, raw: Any) -> Any:
    if kind == "datetime":
        if not isinstance(raw, str):
            raise ValueError("expected a timestamp")
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("timestamp without offset")
        return parsed
    if kind == "uuid":
        if not isinstance(raw, str):
            raise ValueError("expected a uuid")
        return uuid.UUID(raw)
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("expected a number")
        return float(raw)
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("expected an integer")
        return raw
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw


def encode_cursor(ordering: Ordering, values: Sequence[Any], filters: str = "") -> str:
    body = {
        "o": ordering.name,
        "f": filters,
        "k": [
            _encode_value(key.kind, value) for key, value in zip(ordering.keys, values, strict=True)
        ],
    }
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: Ordering, filters: str = "") -> list[Any]:
    """The sort-key values in ``cursor``; :class:`InvalidInput` (422) for anything else."""
    invalid = InvalidInput(
        "The cursor is invalid: use the next_cursor of a previous page with the same "
        "sort order and filters.",
        field="cursor",
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid from None
    if (
        not isinstance(body, dict)
        or body.get("o") != ordering.name
        or body.get("f") != filters
        or not isinstance(body.get("k"), list)
        or len(body["k"]) != len(ordering.keys)
    ):
        raise invalid
    try:
        return [
            _decode_value(key.kind, raw) for key, raw in zip(ordering.keys, body["k"], strict=True)
        ]
    except (ValueError, TypeError):
        raise invalid from None


# -- keyset predicate --------------------------------------------------------------------------


def after(ordering: Ordering, values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in ``ordering``.

    Uniform directions use a row comparison ``(a, b) < ($1, $2)``, which PostgreSQL answers with
    one index range scan; mixed directions expand to ``a < $1 OR (a = $1 AND b > $2) …``.
    """
    keys = ordering.keys
    columns = [key.expression for key in keys]
    bound = [
        literal(value, type_=column.type) for column, value in zip(columns, values, strict=True)
    ]
    if all(key.descending for key in keys):
        return tuple_(*columns) < tuple_(*bound)
    if not any(key.descending for key in keys):
        return tuple_(*columns) > tuple_(*bound)
    clauses: list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal_prefix = [columns[i] == bound[i] for i in range(index)]
        column = columns[index]
        beyond = column < bound[index] if key.descending else column > bound[index]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(false(), *clauses)


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    ordering: Ordering,
    page: PageRequest,
    *,
    filters: str = "",
    parameters: Mapping[str, Any] | None = None,
) -> tuple[list[Any], str | None]:
    """Run ``statement`` (one entity per row) for one page; return the entities and the next cursor.

    ``filters`` is a :func:`fingerprint` of every filter the statement applies; ``parameters``
    are the values of named bind parameters in ``statement`` (e.g. a search's query).
    """
    if page.cursor is not None:
        statement = statement.where(after(ordering, decode_cursor(page.cursor, ordering, filters)))
    key_count = len(ordering.keys)
    statement = (
        statement.add_columns(*(key.expression for key in ordering.keys))
        .order_by(*ordering.order_by())
        .limit(page.limit + 1)
    )
    rows = (await session.execute(statement, parameters)).all()
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = [row[0] for row in rows]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(ordering, list(last[-key_count:]), filters)
    return items, next_cursor
