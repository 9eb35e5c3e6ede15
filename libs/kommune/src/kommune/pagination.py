"""Keyset (cursor) pagination for every list of every service.

A list is a SQL statement plus an :class:`Ordering`: sort keys ending with a unique column (the
id), so every row has exactly one position and a page never repeats or skips a row when rows are
added between requests. Keyset instead of OFFSET: a deep page costs the same as the first one.

The cursor is opaque and **signed**: URL-safe base64 of the ordering's name, a fingerprint of the
filters and the sort-key values of the last row, followed by an HMAC-SHA256 over them keyed with
the deployment's cursor key (``KOMMUNE_CURSOR_SECRET``) and the service's name. A client can
only send back a cursor the service made, for the same sort order and filters; anything else —
forged, edited, truncated, from another service or another deployment — is a 422 problem naming
``cursor``. The values are checked against what their columns hold even so (an integer column's
range, a string column's length, no NUL or lone surrogate, timestamps PostgreSQL can take), so a
leaked key cannot turn a cursor into a database error.

Sort keys must not be NULL: a row comparison with NULL is neither before nor after, so such rows
would silently drop out of every page. A nullable column is refused when the :class:`SortKey` is
declared; a computed key that yields NULL fails loudly when the cursor is made (coalesce it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    Select,
    SmallInteger,
    String,
    and_,
    false,
    literal,
    or_,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from kommune.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 1024
MAX_TEXT_KEY = 1000
"""Characters of a text sort key without a declared length (longer values are refused)."""

KeyKind = Literal["datetime", "int", "float", "uuid", "str"]

T = TypeVar("T")

_INT_BITS: tuple[tuple[type[Integer], int], ...] = ((SmallInteger, 16), (BigInteger, 64))


@dataclass(frozen=True, slots=True)
class SortKey:
    column: ColumnElement[Any] | QueryableAttribute[Any]
    kind: KeyKind
    descending: bool = True

    def __post_init__(self) -> None:
        expression = self.expression
        if isinstance(expression, Column) and expression.nullable:
            raise ValueError(
                f"sort key {expression} is nullable: keyset pagination would skip its NULL rows; "
                "make the column NOT NULL or sort by coalesce(...)"
            )

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


# -- signing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CursorSigner:
    """Signs and checks cursors with the deployment's key, bound to one service."""

    key: bytes
    context: str
    """The service's name: a cursor of one service is not valid in another."""

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.key, self.context.encode() + b"\0" + body, hashlib.sha256).digest()

    def sign(self, body: bytes) -> str:
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def open(self, cursor: str) -> bytes | None:
        """The signed body, or ``None`` unless the signature is this signer's."""
        body_part, dot, mac_part = cursor.partition(".")
        if not dot:
            return None
        try:
            body, mac = _unb64(body_part), _unb64(mac_part)
        except (ValueError, binascii.Error, UnicodeError):
            return None
        return body if hmac.compare_digest(mac, self._mac(body)) else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(
        (text + "=" * (-len(text) % 4)).encode("ascii"), altchars=b"-_", validate=True
    )


# -- the request -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    cursor: str | None
    limit: int
    signer: CursorSigner


async def page_request(
    request: Request,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="Opaque cursor from the previous page's `next_cursor`.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
) -> PageRequest:
    settings = request.state.settings
    signer = CursorSigner(settings.cursor_key, settings.service_name)
    return PageRequest(cursor=cursor or None, limit=limit, signer=signer)


PageParams = Annotated[PageRequest, Depends(page_request)]
"""``?cursor=&limit=`` (default 20, at most 100) of every list endpoint.

Dependencies that do no I/O are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
in the thread pool, a hop that cost ~0.2 ms per dependency and request (``bench/``)."""


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is ``null`` on the last page."""

    items: list[T]
    next_cursor: str | None


def fingerprint(*parts: object) -> str:
    """A short digest of the filters a cursor was issued for (a cursor only works with them)."""
    raw = json.dumps([str(part) for part in parts], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# -- cursor codec ------------------------------------------------------------------------------


def _encode_value(key: SortKey, value: Any) -> Any:
    if value is None:
        raise TypeError(
            f"sort key {key.expression} is NULL in a row: keyset pagination cannot place it "
            "(coalesce the expression)"
        )
    kind = key.kind
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


def _int_range(key: SortKey) -> tuple[int, int]:
    bits = 32
    for type_, type_bits in _INT_BITS:
        if isinstance(key.expression.type, type_):
            bits = type_bits
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _check_text(key: SortKey, raw: str) -> str:
    column_type = key.expression.type
    limit = column_type.length if isinstance(column_type, String) else None
    if len(raw) > (limit or MAX_TEXT_KEY):
        raise ValueError("text longer than its column")
    if "\x00" in raw or any("\ud800" <= char <= "\udfff" for char in raw):
        raise ValueError("text the database cannot store")
    return raw


def _decode_value(key: SortKey, raw: Any) -> Any:
    kind = key.kind
    if kind == "datetime":
        if not isinstance(raw, str):
            raise ValueError("expected a timestamp")
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("timestamp without offset")
        parsed.astimezone(UTC)  # OverflowError at the calendar's edges (year 1 at +14:00)
        return parsed
    if kind == "uuid":
        if not isinstance(raw, str):
            raise ValueError("expected a uuid")
        return uuid.UUID(raw)
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError("expected a finite number")
        return float(raw)
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("expected an integer")
        low, high = _int_range(key)
        if not low <= raw <= high:
            raise ValueError("integer out of the column's range")
        return raw
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return _check_text(key, raw)


def encode_cursor(
    ordering: Ordering, values: Sequence[Any], signer: CursorSigner, filters: str = ""
) -> str:
    body = {
        "o": ordering.name,
        "f": filters,
        "k": [_encode_value(key, value) for key, value in zip(ordering.keys, values, strict=True)],
    }
    return signer.sign(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


def decode_cursor(
    cursor: str, ordering: Ordering, signer: CursorSigner, filters: str = ""
) -> list[Any]:
    """The sort-key values in ``cursor``; :class:`InvalidInput` (422) for anything else."""
    invalid = InvalidInput(
        "The cursor is invalid: use the next_cursor of a previous page with the same "
        "sort order and filters.",
        field="cursor",
    )
    signed = signer.open(cursor)
    if signed is None:
        raise invalid
    try:
        body = json.loads(signed)
    except (ValueError, UnicodeError):
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
        return [_decode_value(key, raw) for key, raw in zip(ordering.keys, body["k"], strict=True)]
    except (ValueError, TypeError, OverflowError):
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
        values = decode_cursor(page.cursor, ordering, page.signer, filters)
        statement = statement.where(after(ordering, values))
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
        next_cursor = encode_cursor(ordering, list(last[-key_count:]), page.signer, filters)
    return items, next_cursor
