"""Client-app API keys: issued to Open311 apps, stored as SHA-256, checked before anything else.

``Depends(client_app_key)`` on a route makes the route *authenticated by API key* instead of a
bearer token: :class:`ApiKeyRequirement` is a :class:`kommune.permissions.Requirement`, so
:class:`kommune.routing.GuardedRoute` checks it before the request is validated, and
``tests/test_authorization.py`` recognises it by ``authenticates == "api_key"`` (a missing or
wrong key is 403, the spec's status, where a missing token would be 401).

# candidate for libs/kommune: "authenticated by API key" as a kind of route requirement (the
# sensors service's per-device keys need the same shape).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.clock import utc_now
from kommune.permissions import Requirement
from kommune_egov.open311.errors import Open311Error
from kommune_egov.open311.models import Open311Client

API_KEY_FIELD = "api_key"
MAX_API_KEY_LENGTH = 200
KEY_BYTES = 32
"""256 bits from the OS's CSPRNG per issued key."""
MAX_FORM_FIELDS = 200
MAX_FORM_FILES = 1
MAX_PART_BYTES = 64 * 1024
"""A non-file form field (the description is at most 4,000 characters); the ``media`` file is
bounded by the route's body limit and ``attachment_max_bytes``."""


def new_api_key() -> str:
    return "o311_" + secrets.token_urlsafe(KEY_BYTES)


def key_digest(key: str) -> str:
    """Issued keys have 256 bits of entropy: SHA-256 is enough (no salt, no slow hash)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ClientApp:
    """The caller of an API-key route: the registered app whose key was sent."""

    id: uuid.UUID
    name: str


async def find_client(session: AsyncSession, key: str) -> ClientApp | None:
    statement = select(Open311Client).where(
        Open311Client.key_hash == key_digest(key), Open311Client.revoked_at.is_(None)
    )
    client = (await session.execute(statement)).scalar_one_or_none()
    return None if client is None else ClientApp(client.id, client.name)


async def sent_api_key(request: Request) -> str | None:
    """``api_key`` from the form body (the spec's place) or, failing that, the query."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(
            max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_PART_BYTES
        )
        value = form.get(API_KEY_FIELD)
        if isinstance(value, str) and value:
            return value
    return request.query_params.get(API_KEY_FIELD) or None


class ApiKeyRequirement(Requirement[Any]):
    """``Depends(client_app_key)``: the route needs a valid, unrevoked client-app key."""

    authenticates = "api_key"

    def __init__(self) -> None:  # no role policy: the key itself is the permission
        self.permission = "open311_client_app"

    async def __call__(self, request: Request) -> ClientApp:  # type: ignore[override]
        cached = getattr(request.state, "client_app", None)
        if isinstance(cached, ClientApp):
            return cached
        try:
            key = await sent_api_key(request)
        except Exception as exc:  # an unreadable form: still no key
            raise Open311Error(400, "The request body cannot be read as a form.") from exc
        if key is None:
            raise Open311Error(403, "api_key is missing -- can't proceed with create_request.")
        if len(key) > MAX_API_KEY_LENGTH:
            raise Open311Error(
                403, "Invalid api_key received -- can't proceed with create_request."
            )
        sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
        async with sessionmaker() as session:
            client = await find_client(session, key)
        if client is None:
            raise Open311Error(
                403, "Invalid api_key received -- can't proceed with create_request."
            )
        request.state.client_app = client
        return client


client_app_key = ApiKeyRequirement()


async def register_client(
    session: AsyncSession,
    name: str,
    created_by: str,
    *,
    key: str | None = None,
    client_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> tuple[Open311Client, str]:
    """Register an app; returns it and its key (shown once). ``key`` only for the dev demo."""
    key = key or new_api_key()
    client = Open311Client(
        id=client_id or uuid.uuid4(),
        name=name,
        key_hash=key_digest(key),
        key_hint=key[:8],
        created_at=now or utc_now(),
        created_by=created_by,
    )
    session.add(client)
    await session.flush()
    return client, key
