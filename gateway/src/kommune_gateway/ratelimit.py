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

**Counted locally while far from the limit.** That statement made every request of one caller
queue on one row lock (-c10 through the gateway: 97 req/s with it, 173 without). So each replica
remembers, per bucket, the shared counts it last read and the hits it let through since
(:class:`_Local`). While that estimate stays below ``limit - reserve`` (``reserve``: 10 % of the
limit, at least :data:`RESERVE_MIN`), the counts were read less than ``max_age`` seconds ago and
fewer than ``reserve / 2`` hits are pending, a request is decided in memory and its hit written
with the others' in one batched statement every ``flush_seconds`` (which also reads the shared
counts back). Otherwise, i.e. near the limit, on a new window, after ``max_age`` or with
``reserve / 2`` hits pending, the request takes the exact statement (after writing what is
pending). Small limits (below 2 x :data:`RESERVE_MIN`) so behave exactly as before. A caller
spread over ``R`` replicas gets at most ``(R - 1) x reserve / 2`` requests beyond the limit, and
only when a replica's counts are up to ``max_age`` old while the others used up the budget;
otherwise the reserve absorbs what the replicas have pending.
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
RESERVE_MIN = 50
"""Requests below the limit from which every request is checked against the shared count."""
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


_ADD = """
INSERT INTO rate_limit_counters AS c (bucket, window_index, hits, expires_at)
SELECT b, w, h, to_timestamp(x)
FROM unnest($1::text[], $2::int8[], $3::int4[], $4::float8[]) AS t(b, w, h, x)
ON CONFLICT (bucket, window_index) DO UPDATE SET hits = c.hits + excluded.hits
RETURNING bucket, window_index, hits
"""


@dataclass(slots=True)
class _Local:
    """What one replica knows about a bucket: the shared counts at ``synced_at``, plus
    ``pending`` hits it let through and has not written yet."""

    index: int
    expires: float
    previous: int
    current: int
    synced_at: float
    pending: int = 0


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
        flush_seconds: float = 0.1,
        max_age: float = 1.0,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._max_age = max_age
        self._last_warning = float("-inf")
        self._local: dict[str, _Local] = {}
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    async def hit(self, bucket: str, rule: RateRule) -> RateDecision | None:
        """Count one request for ``bucket`` if it fits ``rule``; None if the store failed."""
        now = self._clock()
        window = rule.window_seconds
        index = int(now // window)
        elapsed = now - index * window
        weight = 1.0 - elapsed / window
        reset = max(1, math.ceil(window - elapsed))
        local = self._local.get(bucket)
        if local is not None and local.index == index and now - local.synced_at <= self._max_age:
            estimate = local.previous * weight + local.current + local.pending + 1
            margin = reserve(rule)
            if estimate <= rule.requests - margin + _EPSILON and local.pending < margin // 2:
                local.pending += 1
                self._flush_later()
                return RateDecision(True, rule, int(rule.requests - estimate), reset)
        return await self._hit_exactly(bucket, rule, now, index, elapsed, weight, reset)

    async def _hit_exactly(
        self,
        bucket: str,
        rule: RateRule,
        now: float,
        index: int,
        elapsed: float,
        weight: float,
        reset: int,
    ) -> RateDecision | None:
        window = rule.window_seconds
        expires = (index + 2) * window  # still needed as "previous" during the next window
        try:
            async with asyncio.timeout(self._timeout):
                local = self._local.get(bucket)
                if self._flush_lock.locked() or (local is not None and local.pending):
                    await self.flush()  # the shared count must hold what was let through here
                row = await self._pool.fetchrow(
                    _HIT, bucket, index, float(expires), weight, rule.requests
                )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._failed(now, exc)
            return None
        assert row is not None
        previous: int = row["previous"]
        counted: int | None = row["counted"]
        # ``current`` was read in the statement's snapshot, i.e. before this hit.
        current: int = counted if counted is not None else (row["current"] or 0)
        local = self._local.get(bucket)
        if local is not None and local.index == index:  # hits let through meanwhile stay pending
            local.previous, local.current, local.synced_at = previous, current, now
        elif rule.requests > reserve(rule):  # otherwise never decided here: nothing to keep
            self._local[bucket] = _Local(index, float(expires), previous, current, now)
        estimate = previous * weight + current
        allowed = counted is not None and estimate <= rule.requests + _EPSILON
        if allowed:
            return RateDecision(True, rule, int(rule.requests - estimate), reset)
        return RateDecision(False, rule, 0, reset, retry_after(rule, previous, current, elapsed))

    def _flush_later(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        while any(local.pending for local in self._local.values()):
            await asyncio.sleep(self._flush_seconds)
            try:
                async with asyncio.timeout(self._timeout):
                    await self.flush()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._failed(self._clock(), exc)

    async def flush(self) -> None:
        """Write every hit let through locally (one statement) and refresh the shared counts;
        forget buckets nobody used for ``max_age``."""
        async with self._flush_lock:
            now = self._clock()
            batch = {b: local for b, local in self._local.items() if local.pending}
            taken = {b: local.pending for b, local in batch.items()}
            for local in batch.values():
                local.pending = 0
            try:
                rows = []
                if batch:
                    rows = await self._pool.fetch(
                        _ADD,
                        list(batch),
                        [local.index for local in batch.values()],
                        list(taken.values()),
                        [local.expires for local in batch.values()],
                    )
            except BaseException:
                for bucket, local in batch.items():
                    local.pending += taken[bucket]  # written with the next flush
                raise
            for row in rows:
                local = batch[row["bucket"]]
                if local.index == row["window_index"]:
                    local.current = row["hits"]
                    local.synced_at = now
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for bucket in [
            b
            for b, local in self._local.items()
            if not local.pending and now - local.synced_at > self._max_age
        ]:
            del self._local[bucket]

    def __len__(self) -> int:
        """Buckets this replica keeps counts for."""
        return len(self._local)

    async def aclose(self) -> None:
        """Write what is still pending (shutdown)."""
        if self._flusher is not None:
            self._flusher.cancel()
        try:
            async with asyncio.timeout(self._timeout):
                await self.flush()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._failed(self._clock(), exc)

    def _failed(self, now: float, exc: BaseException) -> None:
        RATE_LIMIT_ERRORS.inc()
        if now - self._last_warning >= WARN_EVERY_SECONDS:  # not one line per request
            self._last_warning = now
            log.warning("rate_limit_unavailable", error=type(exc).__name__)

    async def expire(self, batch: int = 5000) -> int:
        """Delete up to ``batch`` windows nobody needs any more; returns how many. Also forgets
        the local counts of buckets nobody used for ``max_age``."""
        self._forget_idle(self._clock())
        result = await self._pool.execute(_EXPIRE, batch)
        return int(result.split()[-1])


_EXPIRE = """
DELETE FROM rate_limit_counters WHERE ctid IN (
    SELECT ctid FROM rate_limit_counters WHERE expires_at < now() LIMIT $1
)
"""


def reserve(rule: RateRule) -> int:
    """How far below its limit a bucket is checked exactly: 10 %, at least :data:`RESERVE_MIN`."""
    return max(RESERVE_MIN, math.ceil(rule.requests / 10))


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
