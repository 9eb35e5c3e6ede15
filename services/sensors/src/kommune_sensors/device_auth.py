"""Who posts readings: a device with its API key, or a person with a token and a permission.

# candidate for libs/kommune: the shared runtime knows bearer tokens only. A route that also
# accepts another credential (here ``X-API-Key``) still has to be a ``GuardedRoute`` whose
# access dependency ``tests/test_authorization.py`` recognises, so :class:`DeviceOrPermission`
# is a :class:`kommune.permissions.Requirement`: it is solved before the body is read, and
# with neither credential the answer is 401, with a token lacking the permission 403, as for
# every other route.

Keys look like ``kdk_<key id, 32 hex>_<secret, 43 url-safe base64>``; only SHA-256 of the secret
is stored (:class:`~kommune_sensors.devices.models.DeviceKey`), compared in constant time. A
malformed, unknown or revoked key is 401 with one message, so a caller learns nothing about
which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy import select

from kommune.auth.principal import OptionalPrincipal, Principal
from kommune.db import transaction
from kommune.errors import Unauthorized
from kommune.permissions import Requirement
from kommune_sensors.access import POLICY, Permission
from kommune_sensors.devices.models import Datastream, DeviceKey

API_KEY_HEADER = "X-API-Key"
KEY_PATTERN = re.compile(r"kdk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")
INVALID_KEY = "The device key is not valid."

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="deviceKey",
    description="A device's API key (issued by an operator; only the device's datastreams).",
)


def new_key(key_id: uuid.UUID) -> tuple[str, bytes]:
    """A fresh key for ``key_id``: the text the device gets once, and the digest we keep."""
    secret = secrets.token_urlsafe(32)
    return f"kdk_{key_id.hex}_{secret}", digest(secret)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Caller:
    """A device (``thing_id`` and its datastreams) or a person (``principal``)."""

    principal: Principal | None = None
    thing_id: int | None = None
    datastream_ids: frozenset[int] = frozenset()

    @property
    def is_device(self) -> bool:
        return self.thing_id is not None

    def may_write(self, datastream_id: int) -> bool:
        return not self.is_device or datastream_id in self.datastream_ids


async def authenticate_device(request: Request, key: str) -> Caller:
    cached = getattr(request.state, "device_caller", None)
    if isinstance(cached, Caller):
        return cached
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        raise Unauthorized(INVALID_KEY)
    key_id, secret = uuid.UUID(match.group(1)), match.group(2)
    async with transaction(request.state.sessionmaker) as session:
        row = (
            await session.execute(
                select(DeviceKey.thing_id, DeviceKey.secret_sha256).where(
                    DeviceKey.id == key_id, DeviceKey.revoked_at.is_(None)
                )
            )
        ).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, digest(secret)):
            raise Unauthorized(INVALID_KEY)
        streams = (
            await session.execute(select(Datastream.id).where(Datastream.thing_id == row.thing_id))
        ).scalars()
        caller = Caller(thing_id=row.thing_id, datastream_ids=frozenset(streams))
    request.state.device_caller = caller
    return caller


class DeviceOrPermission(Requirement[Permission]):
    """``Depends(DeviceOrPermission(Permission.INGEST))``: a device key, or a token with it."""

    async def __call__(  # type: ignore[override]  # returns a Caller, takes a key as well
        self,
        request: Request,
        principal: OptionalPrincipal,
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Caller:
        if api_key is not None:
            if principal is not None:
                raise Unauthorized("Send a device key or a bearer token, not both.")
            return await authenticate_device(request, api_key)
        if principal is None:
            raise Unauthorized(f"A device key ({API_KEY_HEADER}) or a bearer token is required.")
        self.policy.require(principal, self.permission)
        return Caller(principal=principal)


MayIngest = Annotated[Caller, Depends(DeviceOrPermission(POLICY, Permission.INGEST))]
