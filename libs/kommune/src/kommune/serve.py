"""The one way every Kommune app is served: uvicorn with limits at the edge and a metrics port.

``python -m kommune.serve kommune_ideas.main:app --host 0.0.0.0 --port 8101`` runs the app under
uvicorn with :class:`EdgeProtocol` (uvicorn's httptools protocol plus what ASGI middleware cannot
see, because it happens before a request exists) and serves Prometheus metrics on a second
listener (``/metrics`` is never on the public one). The app carries its own limits:
:func:`kommune.app.install_runtime` stores :class:`ServerLimits` from the service's settings in
``app.state.server_limits``.

What the protocol adds (docs/adr/0009-limits-at-the-edge.md):

* a deadline for the request line and headers, from the connection (or the request's first
  byte on a kept-alive connection) to the blank line: half-sent headers (slowloris) get
  ``408`` and the connection is closed; a connection that sent nothing is closed silently;
* header limits: more than ``max_header_count`` fields, or more than ``max_header_bytes`` of
  request line and headers (also while still arriving: httptools would otherwise buffer an
  endless header) → ``431`` and the connection closed;
* malformed HTTP (what could smuggle a second request past a proxy: ``Content-Length`` with
  ``Transfer-Encoding``, two ``Content-Length`` s, control characters in headers) → ``400``
  problem and the connection closed, instead of uvicorn's plain-text 400;
* a deadline for each piece of the body: a client that stops sending mid-body gets ``408``
  (or, once the response has started, just the closed connection); the app sees a disconnect.
  The clock does not run while the server itself has paused reading because the app is slow.

All these answers are ``application/problem+json`` and counted in
``kommune_http_connections_rejected_total{reason}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from wsgiref.simple_server import WSGIServer

import httptools
import structlog
import uvicorn
from prometheus_client import REGISTRY, start_http_server
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from kommune.errors import PROBLEM_JSON, PROBLEM_TYPE_BASE
from kommune.telemetry.logging import stop_background_writer, write_in_background
from kommune.telemetry.metrics import HTTP_CONNECTIONS_REJECTED

log = structlog.get_logger("kommune.serve")

METRICS_PORT_OFFSET = 1000
"""Without a configured metrics port, it is the public port + 1000 (8101 → 9101)."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What the server enforces before (and around) the ASGI app; from the service's settings."""

    header_timeout: float = 10.0
    body_timeout: float = 15.0
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    keep_alive_timeout: int = 5
    metrics_port: int | None = None
    """``None``: public port + 1000; ``0``: no metrics listener."""

    def metrics_port_for(self, public_port: int) -> int | None:
        if self.metrics_port == 0:
            return None
        return self.metrics_port or public_port + METRICS_PORT_OFFSET


class HeadersTooLarge(Exception):  # noqa: N818 - raised through httptools' callback
    pass


def _problem(status: int, code: str, detail: str) -> bytes:
    phrase = STATUS_LINE[status].split(b" ", 2)[2].strip().decode()
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + code,
            "title": phrase,
            "status": status,
            "code": code,
            "detail": detail,
        }
    ).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _HeldHead:
    """Stands in for the transport while a response head is written: keeps the bytes."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _HeadWithBody:
    """Stands in for the transport while the first body piece is written: one write for both."""

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        self.head: bytes | None = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, None
        self.transport.write(head + data if head is not None else data)

    def flush(self) -> None:
        """Write the head if nothing else did (a HEAD request's response has no body bytes)."""
        if self.head is not None and not self.transport.is_closing():
            self.write(b"")

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class CoalescingCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, sending a sized response's head with its first body
    piece in one write.

    uvicorn writes the status line and headers as soon as ``http.response.start`` arrives and
    the body in a second write: two segments, and the client (or the gateway, a proxy's
    upstream) wakes twice per answer. A response that declares its ``Content-Length`` sends its
    body right away (Starlette's responses do), so its head waits for it here; streams without
    a length (Server-Sent Events, chunked relays) keep getting their head at once.
    """

    _held: bytes | None = None

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            if any(name.lower() == b"content-length" for name, _ in message.get("headers", ())):
                transport = self.transport
                holder = _HeldHead(transport)
                self.transport = holder  # type: ignore[assignment]
                try:
                    await super().send(message)
                finally:
                    self.transport = transport
                self._held = holder.head or None
                return
        elif self._held is not None and message["type"] == "http.response.body":
            transport = self.transport
            together = _HeadWithBody(transport, self._held)
            self._held = None
            self.transport = together  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            together.flush()
            return
        await super().send(message)


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and header/body deadlines."""

    limits: ClassVar[ServerLimits] = ServerLimits()
    linger_seconds: ClassVar[float] = 2.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._header_size = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._lingering = False
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._cancel(self._linger_timer)
        super().connection_lost(exc)

    # -- reading ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # answered and half-closed: what still arrives is dropped
        self._unset_keepalive_if_required()
        if self._in_headers:
            self._header_bytes += len(data)
        elif self._body_timer is not None:
            self._arm_body_timer()  # progress: the body deadline starts again
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                self._reject(431, "request_header_fields_too_large", str(exc.__context__))
            else:
                self._bad_request(exc)
            return
        except httptools.HttpParserError as exc:
            self._bad_request(exc)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            # Still no end of the headers after more than the limit: do not buffer further.
            self._reject(
                431,
                "request_header_fields_too_large",
                f"The request headers exceed {self.limits.max_header_bytes} bytes.",
            )

    def handle_websocket_upgrade(self) -> None:
        # The connection now belongs to the WebSocket protocol: our deadlines must not fire on it.
        self._cancel_timers()
        super().handle_websocket_upgrade()

    def _bad_request(self, exc: Exception) -> None:
        """Malformed HTTP (e.g. Content-Length with Transfer-Encoding, two Content-Lengths, a
        control character in a header): a 400 problem, closed; never passed on to the app."""
        self._reject(400, "bad_request", f"Invalid HTTP request: {exc}", reason="invalid_request")

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_count = 0
        self._header_size = 0
        if self._header_timer is None:  # a kept-alive connection's next request starts now
            self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        self._add_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            raise HeadersTooLarge(
                f"The request has more than {self.limits.max_header_count} header fields."
            )
        self._add_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _add_header_bytes(self, size: int) -> None:
        self._header_size += size
        if self._header_size > self.limits.max_header_bytes:
            raise HeadersTooLarge(
                f"The request headers exceed {self.limits.max_header_bytes} bytes."
            )

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        self._cancel(self._header_timer)
        self._header_timer = None
        self._arm_body_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if type(cycle) is RequestResponseCycle:  # created just now by uvicorn: same fields
            cycle.__class__ = CoalescingCycle

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        self._in_headers = True
        self._header_bytes = 0
        super().on_message_complete()

    # -- deadlines ----------------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout, self._header_timed_out
        )

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._header_bytes == 0 and self._header_size == 0:
            # Nothing of a request arrived: an idle connection, closed without an answer.
            HTTP_CONNECTIONS_REJECTED.labels("idle_timeout").inc()
            self.transport.close()
            return
        self._reject(
            408,
            "request_timeout",
            f"The request headers did not arrive within {self.limits.header_timeout:g} s.",
            reason="header_timeout",
        )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            # We stopped reading (the app is slow), or the client waits for our "100 Continue"
            # (sent when the app first reads): not the client's fault.
            self._arm_body_timer()
            return
        self._reject(
            408,
            "request_timeout",
            f"The request body stalled for {self.limits.body_timeout:g} s.",
            reason="body_timeout",
        )

    def _reject(self, status: int, code: str, detail: str, reason: str | None = None) -> None:
        """Answer ``status`` (unless a response has started), tell the app, close."""
        self._cancel_timers()
        HTTP_CONNECTIONS_REJECTED.labels(reason or code).inc()
        cycle = self.cycle
        # While headers arrive, no response to this request exists yet; during the body, only
        # answer if the app has not (a second response would be read as the next request's).
        answer = self._in_headers or (cycle is not None and not cycle.response_started)
        if cycle is not None and not cycle.response_complete:
            # The app's own answer (if it still sends one) must not follow ours on the wire.
            cycle.disconnected = True
            cycle.message_event.set()
        if answer:
            self.transport.write(_problem(status, code, detail))
        log.info("connection_rejected", status=status, reason=reason or code, client=self.client)
        self._linger()

    def _linger(self) -> None:
        """Half-close, drop what the client still sends for a moment, then close.

        Closing a socket with unread input makes the kernel send a reset, which can destroy the
        answer before the client has read it (a client still sending a 1 MB header would see
        "connection reset" instead of 431). Like nginx's lingering close, bounded in time.
        """
        self._lingering = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.flow.resume_reading()
        self.transport.write_eof()
        self._linger_timer = self.loop.call_later(self.linger_seconds, self.transport.close)

    def _cancel_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._body_timer)
        self._header_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def edge_protocol(limits: ServerLimits) -> type[EdgeProtocol]:
    """:class:`EdgeProtocol` bound to ``limits`` (uvicorn instantiates the class itself)."""
    return type("BoundEdgeProtocol", (EdgeProtocol,), {"limits": limits})


def app_limits(app: Any) -> ServerLimits:
    """The limits the app was built with (``install_runtime``), else the defaults."""
    state = getattr(app, "state", None)
    limits = getattr(state, "server_limits", None)
    return limits if isinstance(limits, ServerLimits) else ServerLimits()


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    limits: ServerLimits | None = None,
    timeout_graceful_shutdown: int | None = 20,
    log_config: Any = None,
    **extra: Any,
) -> uvicorn.Config:
    """The uvicorn configuration every Kommune app runs with (production, ``make up``, tests)."""
    limits = limits or app_limits(app)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=edge_protocol(limits),
        lifespan="on",
        access_log=False,  # our middleware writes the access log (JSON, with request ids)
        log_config=log_config,
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        **extra,
    )


class MetricsServer:
    """prometheus_client's own HTTP server in a daemon thread, on its own port."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        self._server, self._thread = start_http_server(self.port, self.host, REGISTRY)
        self.port = self._server.server_port  # the real one when asked for port 0
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kommune.serve", description=__doc__)
    parser.add_argument("app", help="the ASGI app, e.g. kommune_ideas.main:app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=20)
    args = parser.parse_args(argv)

    write_in_background()  # before the app's import configures logging
    app = import_from_string(args.app)
    limits = app_limits(app)
    config = server_config(
        app,
        host=args.host,
        port=args.port,
        limits=limits,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        log_config=uvicorn.config.LOGGING_CONFIG,
    )
    metrics_port = limits.metrics_port_for(args.port)
    metrics = MetricsServer(args.host, metrics_port).start() if metrics_port else None
    try:
        uvicorn.Server(config).run()
    finally:
        if metrics is not None:
            metrics.stop()
        stop_background_writer()


if __name__ == "__main__":
    main()
