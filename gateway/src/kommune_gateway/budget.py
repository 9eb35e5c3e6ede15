"""The request budget of the gateway's own endpoints: the same rate limit and in-flight limit
as proxied calls, so an aggregated read (several upstream calls each) is not a way around them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response

from kommune_gateway.caller import authenticate
from kommune_gateway.proxy import CallerLimiter, GatewayProblem
from kommune_gateway.ratelimit import RATE_LIMITED, RateLimiter, RateRule
from kommune_gateway.settings import GatewaySettings

BUDGET_RESPONSES: dict[int | str, dict[str, str]] = {
    429: {"description": "Rate limit or the caller's in-flight limit reached (`Retry-After`)."}
}
"""For the OpenAPI of the routes that charge the budget."""


class RateLimited(GatewayProblem):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"


async def count_call(
    limiter: RateLimiter,
    bucket: str,
    rule: RateRule,
    *,
    upstream: str,
    route: str,
    caller_kind: str,
) -> dict[str, str]:
    """Count one call in ``bucket`` against ``rule``: 429 (:class:`RateLimited`, naming
    ``upstream``, counted under ``route`` and ``caller_kind``) beyond it. Returns the
    ``RateLimit-*`` headers (none when the database did not answer)."""
    decision = await limiter.hit(bucket, rule)
    if decision is None:
        return {}
    if not decision.allowed:
        RATE_LIMITED.labels(route, caller_kind).inc()
        raise RateLimited(
            upstream,
            f"Too many requests: at most {rule.requests} per {rule.window_seconds} s; "
            f"try again in {decision.retry_after} s.",
            decision.headers(),
        )
    return decision.headers()


async def charge(request: Request, caller: str) -> dict[str, str]:
    """Count one call of ``caller`` against the default budget (:func:`count_call`; no headers
    when rate limits are off)."""
    limiter: RateLimiter | None = request.state.rate_limiter
    if limiter is None:
        return {}
    settings: GatewaySettings = request.state.settings
    return await count_call(
        limiter,
        f"default|{caller}",
        settings.rate_rule(anonymous=False),
        upstream="gateway",
        route=request.scope["route"].path,
        caller_kind="token",
    )


async def own_route_budget(request: Request, response: Response) -> AsyncIterator[None]:
    """A dependency: :func:`charge` the call, and hold one of the caller's in-flight slots
    while it runs."""
    caller = f"sub:{(await authenticate(request)).sub}"
    response.headers.update(await charge(request, caller))
    callers: CallerLimiter = request.state.callers
    release = callers.acquire(caller)
    try:
        yield
    finally:
        release()
