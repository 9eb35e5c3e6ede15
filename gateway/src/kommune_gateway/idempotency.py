"""``Idempotency-Key`` for POST (draft-ietf-httpapi-idempotency-key-header), in PostgreSQL.

Per caller and key, one row in ``idempotency_keys``:

* the first request *claims* the key (an ``INSERT … ON CONFLICT DO UPDATE … WHERE`` that only
  takes over an expired record or an abandoned claim), is forwarded, and its answer is stored
  (status, end-to-end headers, body) with the request's fingerprint (SHA-256 of method, target,
  content type and body) for ``ttl`` (24 h);
* the same key again with the same fingerprint gets the stored answer
  (``Idempotent-Replayed: true``), nothing is forwarded; with another fingerprint → 422
  ``idempotency_key_reused``; while the first is still in flight → 409 ``idempotency_in_flight``.

Keys are per caller (token subject, or address for anonymous calls): one caller's key never
replays another's answer. Every replica sees the same rows. The body is hashed while it streams,
so an upload of any size keeps memory flat; a replayed upload is read (and hashed) but never
stored. Answers that say "not done, try again" (408, 409, 425, 429, 5xx) and gateway failures
release the key instead of being stored, as do answers over ``max_response_bytes`` (logged).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum

import asyncpg  # type: ignore[import-untyped]

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
NOT_STORED_STATUS = frozenset({408, 409, 425, 429})

_CLAIM = """
INSERT INTO idempotency_keys AS k
    (caller, key, state, fingerprint, locked_until, created_at, expires_at)
VALUES ($1, $2, 'in_flight', NULL, now() + make_interval(secs => $3), now(),
        now() + make_interval(secs => $4))
ON CONFLICT (caller, key) DO UPDATE SET
    state = 'in_flight', fingerprint = NULL, locked_until = EXCLUDED.locked_until,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
    status = NULL, headers = NULL, body = NULL
    WHERE k.expires_at < now() OR (k.state = 'in_flight' AND k.locked_until < now())
RETURNING true
"""
_EXISTING = """
SELECT state, fingerprint, status, headers, body FROM idempotency_keys
WHERE caller = $1 AND key = $2
"""
_COMPLETE = """
UPDATE idempotency_keys SET state = 'completed', fingerprint = $3, status = $4, headers = $5,
    body = $6
WHERE caller = $1 AND key = $2 AND state = 'in_flight'
"""
_RELEASE = "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND state = 'in_flight'"
_EXPIRE = """
DELETE FROM idempotency_keys WHERE ctid IN (
    SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT $1
)
"""


def valid_key(value: str) -> bool:
    """1-255 visible ASCII characters (the draft leaves the syntax to the server)."""
    return 0 < len(value) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in value)


def storable(status: int) -> bool:
    return status < 500 and status not in NOT_STORED_STATUS


class Fingerprint:
    """SHA-256 over method, target, content type and body (fed as it streams)."""

    def __init__(self, method: str, target: bytes, content_type: str) -> None:
        self._hash = hashlib.sha256()
        for part in (method.encode(), target, content_type.encode("latin-1")):
            self._hash.update(len(part).to_bytes(4, "big") + part)
        self.complete = False

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def digest(self) -> bytes:
        return self._hash.digest()

    def of_bytes(self, body: bytes | None) -> bytes:
        if body:
            self.update(body)
        self.complete = True
        return self.digest()

    async def through(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body`` unchanged, hashed on the way; ``complete`` once it was read to the end."""
        async for chunk in body:
            self.update(chunk)
            yield chunk
        self.complete = True


class ClaimResult(Enum):
    OWNER = "owner"
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class IdempotencyStore:
    def __init__(
        self, pool: asyncpg.Pool, *, ttl_seconds: float = 86_400, lock_seconds: float = 300
    ) -> None:
        self._pool = pool
        self.ttl_seconds = ttl_seconds
        self.lock_seconds = lock_seconds

    async def claim(self, caller: str, key: str) -> tuple[ClaimResult, StoredResponse | None]:
        async with self._pool.acquire() as connection:
            claimed = await connection.fetchval(
                _CLAIM, caller, key, float(self.lock_seconds), float(self.ttl_seconds)
            )
            if claimed:
                return ClaimResult.OWNER, None
            row = await connection.fetchrow(_EXISTING, caller, key)
        if row is None:
            # Released between the two statements (its owner failed): claim it now.
            return await self.claim(caller, key)
        if row["state"] == "in_flight":
            return ClaimResult.IN_FLIGHT, None
        headers = [(str(k), str(v)) for k, v in json.loads(row["headers"])]
        stored = StoredResponse(row["fingerprint"], row["status"], headers, row["body"])
        return ClaimResult.COMPLETED, stored

    async def complete(
        self,
        caller: str,
        key: str,
        fingerprint: bytes,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        await self._pool.execute(
            _COMPLETE, caller, key, fingerprint, status, json.dumps(headers), body
        )

    async def release(self, caller: str, key: str) -> None:
        await self._pool.execute(_RELEASE, caller, key)

    async def expire(self, batch: int = 1000) -> int:
        """Delete up to ``batch`` expired records; returns how many."""
        result = await self._pool.execute(_EXPIRE, batch)
        return int(result.split()[-1])
