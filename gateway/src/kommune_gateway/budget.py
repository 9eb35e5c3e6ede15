"""The request budget of the gateway's own endpoints: the same rate limit and in-flight limit
as proxied calls, so an aggregated read (several upstream calls each) is not a way around them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response

from kommune_gateway.caller import authenticate
from kommune_gateway.proxy import CallerLimiter, GatewayProblem
from kommune_gateway.ratelimit import RATE_LIMITED, RateLimiter
from kommune_gateway.settings import GatewaySettings

BUDGET_RESPONSES: dict[int | str, dict[str, str]] = {
    429: {"description": "Rate limit or the caller's in-flight limit reached (`Retry-After`)."}
}
"""For the OpenAPI of the routes that charge the budget."""


class RateLimited(GatewayProblem):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"


async def charge(request: Request, caller: str) -> dict[str, str]:
    """Count one call of ``caller`` against the default budget: 429 beyond it; returns the
    ``RateLimit-*`` headers (none when rate limits are off or the database did not answer)."""
    limiter: RateLimiter | None = request.state.rate_limiter
    if limiter is None:
        return {}
    settings: GatewaySettings = request.state.settings
    rule = settings.rate_rule(anonymous=False)
    decision = await limiter.hit(f"default|{caller}", rule)
    if decision is None:
        return {}
    if not decision.allowed:
        RATE_LIMITED.labels(request.scope["route"].path, "token").inc()
        raise RateLimited(
            "gateway",
            f"Too many requests: at most {rule.requests} per {rule.window_seconds} s; "
            f"try again in {decision.retry_after} s.",
            decision.headers(),
        )
    return decision.headers()


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
