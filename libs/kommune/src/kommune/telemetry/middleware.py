"""Pure ASGI middleware: request context (id, trace, metrics, access log) and body size limits.

Pure ASGI rather than ``BaseHTTPMiddleware``: nothing is buffered, streaming bodies stay
streaming in both directions, and context variables set here are visible to the handlers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommune.errors import problem_response
from kommune.prefixes import PrefixTable
from kommune.telemetry.context import (
    child_traceparent,
    new_request_id,
    request_id_var,
    traceparent_var,
    valid_traceparent,
)
from kommune.telemetry.logging import later
from kommune.telemetry.metrics import HTTP_REQUESTS_IN_PROGRESS, UNMATCHED_ROUTE, observe_request

REQUEST_ID_HEADER = "x-request-id"
CLIENT_CLOSED_REQUEST = 499
"""Status recorded (never sent) when the client disconnected before the response (nginx's 499)."""
_REQUEST_ID = re.compile(r"^[\x20-\x7e]{1,128}$")
_ECHOED = frozenset({b"x-request-id", b"traceparent"})
"""Response headers this middleware sets (replacing any the application set)."""

access_log = structlog.get_logger("kommune.access")
error_log = structlog.get_logger("kommune.errors")


def valid_request_id(value: str | None) -> str | None:
    if value is not None and _REQUEST_ID.match(value) and value.strip():
        return value
    return None


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes) in an ASGI scope, or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
                return None
    return None


def route_template(scope: Scope, app_root_path: str) -> str:
    """The matched route's path template (prefixes included), or ``UNMATCHED_ROUTE``."""
    # Inside a mount, root_path has grown by the mount prefix (already resolved, bounded).
    mount_prefix = str(scope.get("root_path", ""))[len(app_root_path) :]
    # FastAPI >= 0.16x resolves included routers lazily: scope["route"] is then the original
    # APIRoute *without* the include prefix, and the full template lives in FastAPI's
    # per-request scope. Use it when present, fall back to the route's own path otherwise.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        path_format = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if isinstance(path_format, str) and path_format:
            return mount_prefix + path_format
    route = scope.get("route")
    if not isinstance(route, BaseRoute):
        return UNMATCHED_ROUTE
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    return mount_prefix + path


class RequestContextMiddleware:
    """Request id, trace context, metrics and one access log line per HTTP request.

    * ``X-Request-ID``: taken from the request when it is 1-128 printable ASCII characters,
      otherwise a new UUID; echoed in the response.
    * ``traceparent``: a child span of a valid incoming W3C ``traceparent``, else a new trace;
      sent back in the response and kept in a context variable for logs and outgoing events.
    * An exception that escapes the application becomes a logged 500 problem response (when no
      response has started yet), so the client still gets the request id.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.in_progress = HTTP_REQUESTS_IN_PROGRESS.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id = valid_request_id(header_value(scope, b"x-request-id")) or new_request_id()
        traceparent = child_traceparent(valid_traceparent(header_value(scope, b"traceparent")))
        rid_token = request_id_var.set(request_id)
        tp_token = traceparent_var.set(traceparent)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, request_id, traceparent)
        finally:
            request_id_var.reset(rid_token)
            traceparent_var.reset(tp_token)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, traceparent: str
    ) -> None:
        start = time.perf_counter()
        app_root_path = str(scope.get("root_path", ""))
        status = 500
        response_started = False

        echoed = [(b"x-request-id", request_id.encode()), (b"traceparent", traceparent.encode())]

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                message["headers"] = [
                    *(pair for pair in message.get("headers", ()) if pair[0] not in _ECHOED),
                    *echoed,
                ]
            await send(message)

        in_progress = self.in_progress
        in_progress.inc()
        try:
            await self.app(scope, receive, send_with_context)
        except ClientDisconnect:
            # The caller went away mid-request: nobody to answer, nothing to alert on.
            status = CLIENT_CLOSED_REQUEST
        except Exception:
            error_log.exception(
                "unhandled_error", method=scope.get("method"), path=scope.get("path")
            )
            if response_started:
                raise  # the server aborts the half-sent response
            status = 500
            response = problem_response(
                500,
                "internal_error",
                "Internal server error",
                "An unexpected error occurred; it has been logged.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send_with_context)
        finally:
            in_progress.dec()
            elapsed = time.perf_counter() - start
            method = str(scope.get("method", "GET"))
            route = route_template(scope, app_root_path)
            later(record_request, self.service, method, scope.get("path"), route, status, elapsed)


def record_request(
    service: str, method: str, path: str | None, route: str, status: int, seconds: float
) -> None:
    """A handled request's metrics and access log line. Run
    :func:`~kommune.telemetry.logging.later`: after the response, off the event loop."""
    observe_request(service, method, route, status, seconds)
    access_log.info(
        "request",
        method=method,
        path=path,
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
    )


def body_headers(scope: Scope) -> tuple[str | None, bool]:
    """What a request says of its body: the first ``Content-Length`` (or None), and whether it
    has a ``Transfer-Encoding``. With neither, an HTTP/1.1 request has no body (RFC 9112, 6.3).
    """
    length: str | None = None
    chunked = False
    for key, value in scope.get("headers", ()):
        if key == b"content-length" and length is None:
            length = value.decode("latin-1")
        elif key == b"transfer-encoding":
            chunked = True
    return length, chunked


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a streamed body exceeds the limit.

    An ``HTTPException`` so that FastAPI's body parsing re-raises it instead of turning it into
    a generic 400; the middleware replaces whatever response follows with its own 413.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimitMiddleware:
    """Rejects request bodies above ``max_bytes`` with 413 ``application/problem+json``.

    A declared ``Content-Length`` above the limit is refused before the application runs; a
    chunked or understated body is counted while the application reads it and cut off as soon as
    it passes the limit. ``path_limits`` gives path prefixes their own limit (e.g. uploads); the
    longest matching prefix wins, by whole segments (:class:`kommune.prefixes.PrefixTable`).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: Iterable[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = PrefixTable(path_limits)

    def limit_for(self, path: str) -> int:
        limit = self.path_limits.match(path)
        return self.max_bytes if limit is None else limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = body_headers(scope)
        if declared is None and not chunked:
            # HTTP/1.1: a request without Content-Length or Transfer-Encoding has no body
            # (RFC 9112, 6.3), so there is nothing to count and nothing to wrap.
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await self._reject(scope, receive, send, limit, status=400)
                return
            if length > limit:
                await self._reject(scope, receive, send, limit)
                return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the application's answer to the cut-off body is replaced below
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or response_started:
                raise
        if exceeded and not response_started:
            await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(
        scope: Scope, receive: Receive, send: Send, limit: int, status: int = 413
    ) -> None:
        if status == 400:
            response = problem_response(
                400,
                "bad_request",
                "Bad request",
                "The Content-Length header is invalid.",
                instance=scope.get("path"),
            )
        else:
            response = problem_response(
                413,
                "payload_too_large",
                "Payload too large",
                f"The request body exceeds the limit of {limit} bytes.",
                instance=scope.get("path"),
                max_bytes=limit,
            )
        await response(scope, receive, send)
