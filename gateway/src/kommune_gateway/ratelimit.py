"""Rate limits per caller, shared by every gateway replica through PostgreSQL.

A *sliding window counter* (the estimate nginx-plus, Cloudflare and Kong's "sliding" policy
use): hits are counted per fixed window in ``rate_limit_counters`` (an UNLOGGED table), and a
request is allowed while ``previous window's hits x (part of it still inside the sliding
window) + this window's hits`` stays within the limit. One statement per request does the
check and the count atomically: the row lock of ``INSERT … ON CONFLICT DO UPDATE … WHERE`` makes
concurrent requests of one caller (on any replica) queue on that row, and a refused request is
not counted, so a client that keeps firing gets in again as soon as the window has slid.

Answers carry ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and
``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers); a refusal is 429 with
``Retry-After``, the time until a request would fit again. If PostgreSQL does not answer within
``timeout`` the request is let through (counted in ``kommune_gateway_rate_limit_errors``): the
per-caller concurrency limit still holds, and the API stays up (docs/adr/0015-…).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

RATE_LIMITED = Counter(
    "kommune_gateway_rate_limited",
    "Requests refused with 429 by the rate limit, by route prefix and kind of caller.",
    ("route", "caller_kind"),
)
RATE_LIMIT_ERRORS = Counter(
    "kommune_gateway_rate_limit_errors",
    "Rate-limit checks that failed (database unreachable or slow): the request went through.",
)

WARN_EVERY_SECONDS = 10.0
_EPSILON = 1e-9
"""Tolerance of the float comparisons (``1 - 36/60`` is not exactly 0.4)."""

_HIT = """
WITH previous AS (
    SELECT coalesce(
        (SELECT hits FROM rate_limit_counters WHERE bucket = $1 AND window_index = $2 - 1), 0
    ) AS hits
), hit AS (
    INSERT INTO rate_limit_counters AS c (bucket, window_index, hits, expires_at)
    VALUES ($1, $2, 1, to_timestamp($3))
    ON CONFLICT (bucket, window_index) DO UPDATE SET hits = c.hits + 1
        WHERE c.hits + 1 + (SELECT hits FROM previous) * $4::float8 <= $5 + 1e-9
    RETURNING hits
)
SELECT
    (SELECT hits FROM hit) AS counted,
    (SELECT hits FROM previous) AS previous,
    (SELECT hits FROM rate_limit_counters WHERE bucket = $1 AND window_index = $2) AS current
"""


@dataclass(frozen=True, slots=True)
class RateRule:
    """``requests`` per ``window_seconds`` (sliding)."""

    requests: int
    window_seconds: int = 60

    def __post_init__(self) -> None:
        if self.requests < 1 or not 1 <= self.window_seconds <= 86_400:
            raise ValueError("a rate rule needs requests >= 1 and a window of 1 s to 1 day")

    @property
    def policy(self) -> str:
        return f"{self.requests};w={self.window_seconds}"


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    rule: RateRule
    remaining: int
    reset_seconds: int
    """Until the current window ends (when the count starts to slide out)."""
    retry_after: int = 0
    """Refused: seconds until a request would fit again."""

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.rule.requests),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": self.rule.policy,
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._clock = clock
        self._last_warning = float("-inf")

    async def hit(self, bucket: str, rule: RateRule) -> RateDecision | None:
        """Count one request for ``bucket`` if it fits ``rule``; None if the store failed."""
        now = self._clock()
        window = rule.window_seconds
        index = int(now // window)
        elapsed = now - index * window
        weight = 1.0 - elapsed / window
        expires = (index + 2) * window  # still needed as "previous" during the next window
        try:
            async with asyncio.timeout(self._timeout):
                row = await self._pool.fetchrow(
                    _HIT, bucket, index, float(expires), weight, rule.requests
                )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            RATE_LIMIT_ERRORS.inc()
            if now - self._last_warning >= WARN_EVERY_SECONDS:  # not one line per request
                self._last_warning = now
                log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return None
        assert row is not None
        previous: int = row["previous"]
        counted: int | None = row["counted"]
        # ``current`` was read in the statement's snapshot, i.e. before this hit.
        current: int = counted if counted is not None else (row["current"] or 0)
        estimate = previous * weight + current
        allowed = counted is not None and estimate <= rule.requests + _EPSILON
        reset = max(1, math.ceil(window - elapsed))
        if allowed:
            return RateDecision(True, rule, int(rule.requests - estimate), reset)
        return RateDecision(False, rule, 0, reset, retry_after(rule, previous, current, elapsed))

    async def expire(self, batch: int = 5000) -> int:
        """Delete up to ``batch`` windows nobody needs any more; returns how many."""
        result = await self._pool.execute(_EXPIRE, batch)
        return int(result.split()[-1])


_EXPIRE = """
DELETE FROM rate_limit_counters WHERE ctid IN (
    SELECT ctid FROM rate_limit_counters WHERE expires_at < now() LIMIT $1
)
"""


def retry_after(rule: RateRule, previous: int, current: int, elapsed: float) -> int:
    """Whole seconds until ``previous x weight + current + 1 <= limit`` holds again."""
    window, limit = rule.window_seconds, rule.requests
    if current + 1 <= limit and previous > 0:
        # Within this window, once enough of the previous window has slid out.
        wait = window * (1 - (limit - current - 1) / previous) - elapsed
    else:
        # Only in the next window, where this window's hits are the previous ones.
        wait = window - elapsed + window * max(0.0, 1 - (limit - 1) / max(current, 1))
    return max(1, math.ceil(wait))
