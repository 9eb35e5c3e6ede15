"""Verified tokens remembered for a few seconds, so a caller's requests skip the RSA check.

The profile of a proxied GET showed token verification at ≈ 6 % of the gateway's CPU
(bench/bench_gateway.py --profile). A token that verified a moment ago verifies again unless it
expired or its signing key was withdrawn: the entry lives ``ttl`` seconds at most (and never past
the token's ``exp``), so a withdrawn key is honoured here within ``ttl``; every service behind the
gateway verifies each token itself in any case. Refused tokens are never remembered.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from kommune.auth.principal import Principal
from kommune.auth.verifier import TokenVerifier


class VerifiedTokens:
    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        ttl: float = 30.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(self, token: str) -> Principal:
        now = self._clock()
        entry = self._entries.get(token)
        if entry is not None:
            if entry[1] > now:
                return entry[0]
            del self._entries[token]
        principal = await self._verifier.verify(token)
        if self._ttl > 0:
            until = min(now + self._ttl, _expiry(token))
            if len(self._entries) >= self._max:
                # Oldest first (dicts keep insertion order): bounded memory under many callers.
                del self._entries[next(iter(self._entries))]
            self._entries[token] = (principal, until)
        return principal


def _expiry(token: str) -> float:
    """The ``exp`` of a token that was just verified (so its payload is well-formed JSON)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])
