"""One proxied request, start to end, as a plain ASGI application.

The steps, in order: refuse dot segments (400), find the route, verify the bearer token unless
the route is public for the method (401), 503 if the upstream is not deployed, count the call
against its rate limit (429 with ``RateLimit-*``), take one of the caller's in-flight slots
(429), then forward: through :func:`~kommune_gateway.idempotent_proxy.idempotent_proxy` for a
POST with ``Idempotency-Key``, otherwise read the small body (:func:`~kommune_gateway.proxy.
read_body`) and relay the upstream's answer (:func:`~kommune_gateway.proxy.proxy_request`).

It reads the ASGI scope directly (headers, client, the lifespan state in ``scope["state"]``)
instead of building Starlette ``Request``/``Headers``/``State`` objects: this runs for every
proxied request, and those objects were a measurable part of its cost (ADR 0015, amendment 3).
An exception becomes the response of the handler the application registered for its class
(problem JSON), looked up the way Starlette's ``ExceptionMiddleware`` does; only then, on the
error path, is a ``Request`` built for the handler. Exceptions without a handler propagate to
the request-context middleware (a logged 500 problem).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kommune.errors import DomainError, NotFound
from kommune.telemetry.middleware import header_value
from kommune_gateway.budget import count_call
from kommune_gateway.caller import verify_bearer
from kommune_gateway.idempotency import IDEMPOTENCY_HEADER
from kommune_gateway.idempotent_proxy import idempotent_proxy
from kommune_gateway.proxy import (
    CallerLimiter,
    UpstreamPool,
    UpstreamResponse,
    proxy_request,
    read_body,
)
from kommune_gateway.ratelimit import RateLimiter
from kommune_gateway.routes import Route, RoutingTable
from kommune_gateway.settings import GatewaySettings

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response] | Response]

_IDEMPOTENCY_HEADER = IDEMPOTENCY_HEADER.lower().encode()


class BadPath(DomainError):  # noqa: N818 - named like kommune.errors
    status_code = 400
    code = "bad_path"
    title = "Bad path"


class ProxyEndpoint:
    """Serves every proxy route (see the module docstring).

    ``exception_handlers`` is the application's own mapping (read on each error, so handlers
    registered after construction count too).
    """

    def __init__(
        self, table: RoutingTable, exception_handlers: Mapping[Any, ExceptionHandler]
    ) -> None:
        self.table = table
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.respond(scope, receive)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(Request(scope, receive), exc)
            response = await answer if isinstance(answer, Awaitable) else answer
        await response(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        if _has_dot_segments(path):
            raise BadPath("The path must not contain '.' or '..' segments.")
        route = self.table.match(path)
        if route is None:  # pragma: no cover - the fast path only sends covered prefixes
            raise NotFound("No service serves this path.")
        state: dict[str, Any] = scope["state"]  # the lifespan state (GatewayState)
        method: str = scope["method"]
        anonymous = route.is_public(method)
        if anonymous:
            client = scope.get("client")
            caller = f"ip:{client[0] if client else '-'}"
        else:
            authorization = header_value(scope, b"authorization")
            principal = await verify_bearer(authorization, state["verified_tokens"])
            caller = f"sub:{principal.sub}"
        pool: UpstreamPool = state["upstreams"]
        pool.client(route.upstream)  # 503 before anything else if it is not deployed
        settings: GatewaySettings = state["settings"]
        rate_headers = await rate_limit(state["rate_limiter"], settings, route, caller, anonymous)
        callers: CallerLimiter = state["callers"]
        release = callers.acquire(caller)
        try:
            key = header_value(scope, _IDEMPOTENCY_HEADER) if method == "POST" else None
            response: Response
            if key is not None:
                response = await idempotent_proxy(
                    scope,
                    receive,
                    route.upstream,
                    pool,
                    state["idempotency"],
                    caller=caller,
                    key=key,
                    buffer_bytes=settings.proxy_buffer_bytes,
                    max_response_bytes=settings.idempotency_max_response_bytes,
                )
                if isinstance(response, UpstreamResponse):
                    response.on_close(release)
                else:
                    release()
            else:
                # The (small) body is read before an upstream connection is taken: proxy.py.
                body = await read_body(scope, receive, settings.proxy_buffer_bytes)
                response = await proxy_request(scope, route.upstream, pool, body, release)
        except BaseException:
            release()
            raise
        if rate_headers:
            response.raw_headers.extend(rate_headers)
        return response

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The registered handler for ``exc`` (status code first for HTTP exceptions, then the
        class hierarchy), except the catch-all ``Exception``/500 one, which Starlette runs
        outside all middleware; the request-context middleware answers those."""
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None


async def rate_limit(
    limiter: RateLimiter | None,
    settings: GatewaySettings,
    route: Route,
    caller: str,
    anonymous: bool,
) -> list[tuple[bytes, bytes]]:
    """Count the call against its route's budget (:func:`~kommune_gateway.budget.count_call`);
    returns the ``RateLimit-*`` headers as raw pairs (none when rate limits are off)."""
    if limiter is None:
        return []
    scope, rule = route.rate_scope(anonymous)
    headers = await count_call(
        limiter,
        f"{scope}|{caller}",
        rule or settings.rate_rule(anonymous),
        upstream=route.upstream,
        route=route.prefix,
        caller_kind="anonymous" if anonymous else "token",
    )
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def _has_dot_segments(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))
