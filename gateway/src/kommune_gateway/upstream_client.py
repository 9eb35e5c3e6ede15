"""The proxy's HTTP/1.1 client: kept-alive connections to one upstream, one exchange each.

Why not aiohttp (which the proxy used before): at one connection a proxied request paid about
250 µs of CPU inside ``ClientSession.request`` and its response handling, the largest single
cost of the gateway, spread over the features of a general client that a proxy never uses
(cookies, redirects, tracing hooks, auth, proxies, content decoding, per-request header
merging). In one loop against an in-process server, aiohttp takes about 90 µs per request where
this client takes 17 µs (ADR 0015, amendment 5). Parsing stays with a well-kept library:
``httptools`` (llhttp, the parser of Node.js and of uvicorn, which serves every request here).

What it does, and nothing else:

* **Connections:** opened on demand (``connect_timeout``), kept alive after a complete answer
  the upstream allows to keep (``Connection``, HTTP version), reused newest first (an idempotent
  request whose kept connection the upstream closes as it is reused goes once more on a new
  one, as browsers and aiohttp do), dropped when idle for ``keepalive_seconds`` (below the
  services' own 5 s) or beyond ``max_idle``. One exchange per connection at a time; the
  caller's semaphore bounds how many there are.
* **Request framing is this module's:** a whole body gets ``Content-Length``; a streamed body
  keeps the caller's ``Content-Length`` (and is cut off, the connection aborted, if it is longer
  or shorter) or is sent chunked; ``Content-Length`` and ``Transfer-Encoding`` in the given
  headers are never passed on as they are. A streamed body is written by a task of its own
  while the answer is awaited, so an upstream that answers early (413) is heard at once; it
  waits for the upstream to take each piece (``read_timeout``), and the upstream's time to
  answer starts once it is sent (a slow caller is not a slow upstream).
* **Answers:** informational (1xx) answers are skipped (one with a body is malformed); a
  ``HEAD`` answer has no body and its connection is not reused (the parser cannot be told the
  request was ``HEAD``); a body delimited by the connection's end is accepted as such if the
  connection ends cleanly (not on a reset); the body is buffered up to :data:`HIGH_WATER` bytes
  before reading from the upstream pauses. The head is limited (:data:`MAX_HEAD_BYTES`,
  :data:`MAX_HEADERS`); trailers are dropped (never merged into the headers, RFC 9110 6.5.1).
  Bytes after a complete answer are never parsed as another one: the answer stands, the
  connection is closed (a desynchronised connection would hand them to the next request).
* **Errors:** :class:`UpstreamConnectError` (nothing was sent: safe to repeat),
  :class:`UpstreamDisconnectedError` (the connection ended before the answer did) and
  :class:`UpstreamMalformedError` (not HTTP/1.x, or an upgrade) are :class:`UpstreamClientError`;
  waiting too long is ``TimeoutError``. A connection that failed, was cancelled or was given up
  half-read is closed, never reused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import cast
from urllib.parse import urlsplit

import httptools

from kommune_gateway.resilience import IDEMPOTENT_METHODS

HIGH_WATER = 256 * 1024
"""Body bytes buffered per connection before reading from the upstream pauses (it resumes as
soon as the proxy takes what is buffered)."""
MAX_HEAD_BYTES = 64 * 1024
"""Bytes an answer may send before its head (or its trailers) is complete; beyond, it is
malformed. Also bounds what the parser buffers of an endless header line."""
MAX_HEADERS = 100
"""Header fields an answer may have (as many as the edge accepts of a request)."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose request without a body still says so (``Content-Length: 0``)."""
_FRAMING = frozenset({"content-length", "transfer-encoding"})


class UpstreamClientError(Exception):
    """The exchange with the upstream failed (see the subclasses)."""


class UpstreamConnectError(UpstreamClientError):
    """No connection could be made (refused, unreachable, timed out): nothing was sent."""


class UpstreamDisconnectedError(UpstreamClientError):
    """The connection ended before the answer did."""


class UpstreamMalformedError(UpstreamClientError):
    """The upstream's answer is not valid HTTP/1.x (or asks for an upgrade)."""


Body = bytes | AsyncIterator[bytes] | None


def upstream_address(base_url: str) -> tuple[str, int]:
    """Host and port of an upstream URL, which must be ``http://host[:port]`` (ValueError).

    Plain HTTP inside the cluster, as the services serve it; TLS between pods is the mesh's.
    """
    url = urlsplit(base_url)
    try:
        port = 80 if url.port is None else url.port
    except ValueError:  # not a number, or out of range
        port = 0
    extras = url.query or url.fragment or url.username or url.password
    if not port or url.scheme != "http" or not url.hostname or url.path not in ("", "/") or extras:
        raise ValueError(f"an upstream URL is http://host[:port], not {base_url!r}")
    return url.hostname, port


class UpstreamClient:
    """Requests to the upstream at ``base_url`` (``http://host:port``), see the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_seconds: float,
        max_idle: int,
    ) -> None:
        self.host, self.port = upstream_address(base_url)
        self._host_line = f"host: {urlsplit(base_url).netloc}\r\n"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_seconds = keepalive_seconds
        self.max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def send(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: Body,
        *,
        answer_timeout: float | None = None,
    ) -> UpstreamReply:
        """Send the request and wait for the head of the final answer (the body is the
        reply's to read). The caller bounds the wait (``asyncio.timeout``), except for a
        streamed body: its upload bounds itself per piece, and ``answer_timeout`` is how long
        the upstream then has for its answer (an early answer, e.g. 413, may come at any time).
        """
        head, chunked, length = self._head(method, target, headers, body)
        kept = self._idle_connection()
        if kept is not None:
            try:
                return await self._exchange(
                    kept, method, head, (chunked, length), body, answer_timeout
                )
            except UpstreamDisconnectedError:
                # The upstream closed the kept-alive connection as it was reused (or before
                # it answered): a request that may be repeated goes once more, on a new one.
                if method not in IDEMPOTENT_METHODS or not (
                    body is None or isinstance(body, bytes)
                ):
                    raise
        connection = await self._connect()
        return await self._exchange(
            connection, method, head, (chunked, length), body, answer_timeout
        )

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        head: bytes,
        framing: tuple[bool, int | None],
        body: Body,
        answer_timeout: float | None,
    ) -> UpstreamReply:
        connection.begin(head_request=method == "HEAD")
        writer: asyncio.Task[None] | None = None
        try:
            if body is None:
                connection.write(head)
            elif isinstance(body, bytes):
                connection.write(head + body)
            else:
                connection.write(head)
                writer = asyncio.get_running_loop().create_task(
                    _write_stream(connection, body, framing, self.read_timeout)
                )
            await connection.answer_head(writer, answer_timeout)
        except BaseException:
            connection.abort()
            if writer is not None:
                writer.cancel()
            raise
        return UpstreamReply(self, connection, writer)

    def _head(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: Body
    ) -> tuple[bytes, bool, int | None]:
        """The request line and headers; whether a streamed body goes chunked, and the length
        it declared (ValueError if that is not a number)."""
        lines = [f"{method} {target} HTTP/1.1\r\n", self._host_line]
        declared: str | None = None
        chunked = False
        length: int | None = None
        for name, value in headers:
            if name.lower() in _FRAMING:  # any spelling: a second framing header is smuggling
                if name.lower() == "content-length" and declared is None:
                    declared = value.strip()
                continue
            lines.append(f"{name}: {value}\r\n")
        if isinstance(body, bytes):
            lines.append(f"content-length: {len(body)}\r\n")
        elif body is None:
            if method in _BODY_METHODS:
                lines.append("content-length: 0\r\n")
        elif declared is not None:
            if not declared.isdigit() or not declared.isascii():
                raise ValueError(f"a Content-Length that is not a number: {declared!r}")
            length = int(declared)
            lines.append(f"content-length: {length}\r\n")
        else:
            lines.append("transfer-encoding: chunked\r\n")
            chunked = True
        lines.append("\r\n")
        text = "".join(lines)
        # Each line ends in the one CR LF put there above; any other CR, LF or NUL came from
        # the caller (header injection).
        if text.count("\n") != len(lines) or text.count("\r") != len(lines) or "\0" in text:
            raise ValueError("a request line or header contains CR, LF or NUL")
        return text.encode("latin-1"), chunked, length

    def _idle_connection(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable(now - self.keepalive_seconds):
                return connection
            connection.abort()
        return None

    async def _connect(self) -> _Connection:
        if self._closed:
            raise UpstreamConnectError("the client is closed")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except TimeoutError:
            raise UpstreamConnectError(f"no connection within {self.connect_timeout} s") from None
        except OSError as exc:
            raise UpstreamConnectError(str(exc) or type(exc).__name__) from exc
        return connection

    def give_back(self, connection: _Connection) -> None:
        """Keep ``connection`` for the next request if it may be reused, else close it."""
        if not connection.end_exchange() or self._closed or len(self._idle) >= self.max_idle:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def idle(self) -> int:
        """Connections waiting for the next request."""
        return sum(1 for connection in self._idle if not connection.closed)

    def close(self) -> None:
        """Close the idle connections; connections in use close when their reply finishes."""
        self._closed = True
        while self._idle:
            self._idle.pop().abort()


async def _write_stream(
    connection: _Connection,
    body: AsyncIterator[bytes],
    framing: tuple[bool, int | None],
    drain_seconds: float,
) -> None:
    """Write a streamed body, chunked or exactly as long as it declared; on any failure (also
    a body longer or shorter than declared) the connection is aborted (the answer then fails
    with :class:`UpstreamDisconnectedError`; the caller knows why from its body's own record)."""
    chunked, length = framing
    sent = 0
    try:
        async for chunk in body:
            if not chunk:
                continue
            sent += len(chunk)
            if chunked:
                connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            elif length is not None and sent > length:
                raise UpstreamDisconnectedError("the body is longer than it declared")
            else:
                connection.write(chunk)
            await connection.drain(drain_seconds)
        if chunked:
            connection.write(b"0\r\n\r\n")
        elif length is not None and sent != length:
            raise UpstreamDisconnectedError("the body is shorter than it declared")
    except asyncio.CancelledError:
        connection.abort()
        raise
    except BaseException:
        connection.abort()


class UpstreamReply:
    """An answer whose head has arrived: status, raw headers, and the body still to read.

    :meth:`finish` (always, also when the body was not read) gives the connection back: kept
    for the next request if the answer was complete and may be kept, otherwise closed.
    """

    def __init__(
        self, client: UpstreamClient, connection: _Connection, writer: asyncio.Task[None] | None
    ) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self._writer = writer
        self.status = connection.status
        self.raw_headers = connection.headers
        self.content_length = connection.content_length

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer coding removed, content coding kept)."""
        connection = self._connection
        if connection is None:
            return
        timeout = self._client.read_timeout
        while True:
            chunk = connection.take()
            if chunk:
                yield chunk
                continue
            if connection.complete:
                return
            async with asyncio.timeout(timeout):
                await connection.more()

    def finish(self) -> None:
        """Give the connection back (see the class docstring); safe to call twice."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()  # answered before the body was sent (e.g. 413): do not reuse
            connection.abort()
            return
        if connection.complete and not connection.buffered:
            self._client.give_back(connection)
        else:
            connection.abort()


class _Connection(asyncio.Protocol):
    """One connection: the parser's callbacks fill the current exchange's head and body."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._busy = False
        self._head: asyncio.Future[None] | None = None
        self._body: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._clear_exchange(head_request=False)

    def _clear_exchange(self, *, head_request: bool) -> None:
        """What one exchange starts with (the parser's callbacks fill it in)."""
        self._head_request = head_request
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.complete = False
        self._informational = False
        self._in_head = True
        self._unparsed = 0
        self._keep_alive = False
        self._until_eof = False
        self._error: BaseException | None = None
        self._body.clear()
        self.buffered = 0

    # -- the exchange (called by the client) ----------------------------------------------

    def begin(self, *, head_request: bool) -> None:
        self._busy = True
        self._clear_exchange(head_request=head_request)
        self._head = asyncio.get_running_loop().create_future()

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise UpstreamDisconnectedError("the connection is closed")
        self.transport.write(data)

    async def drain(self, seconds: float) -> None:
        """Wait (at most ``seconds``) until the upstream has taken what was written."""
        if self.closed:
            raise UpstreamDisconnectedError("the connection is closed")
        if self._writing_paused:
            self._drain = asyncio.get_running_loop().create_future()
            async with asyncio.timeout(seconds):
                await self._drain

    async def answer_head(
        self, upload: asyncio.Task[None] | None = None, seconds: float | None = None
    ) -> None:
        """Wait for the final answer's head; with an ``upload`` running, without a limit until
        it is done (it bounds itself per piece), then at most ``seconds`` (None: no limit)."""
        head = self._head
        assert head is not None
        if upload is not None:
            if not upload.done():
                await asyncio.wait((head, upload), return_when=asyncio.FIRST_COMPLETED)
            if not head.done():
                async with asyncio.timeout(seconds):
                    await head
        await head

    def take(self) -> bytes:
        """The body buffered so far (empty if none)."""
        if not self._body:
            if self._error is not None and not self.complete:
                raise self._error
            return b""
        chunk = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def more(self) -> None:
        """Wait until more of the body arrived, it ended, or the connection failed."""
        if self._body or self.complete or self._error is not None:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    def reusable(self, idle_after: float) -> bool:
        return not self.closed and not self._busy and self.idle_since >= idle_after

    def end_exchange(self) -> bool:
        """End this exchange; True if the connection can take the next one (the answer was
        complete and the upstream keeps the connection open)."""
        if self.closed or not self.complete or not self._keep_alive or self._head_request:
            return False
        self._busy = False
        return True

    def abort(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.abort()
        self.closed = True

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy or self.complete:
            self._fail(UpstreamMalformedError("the upstream sent data nobody asked for"))
            return
        if self._unparsed > MAX_HEAD_BYTES:  # still no end of a head or of the trailers
            self._fail(UpstreamMalformedError(f"a head longer than {MAX_HEAD_BYTES} bytes"))
            return
        self._unparsed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamMalformedError("the upstream asked to switch protocols"))
        except httptools.HttpParserError as exc:
            ours = exc.__context__  # raised by a callback below
            if not isinstance(ours, UpstreamMalformedError):
                ours = UpstreamMalformedError(f"not a valid HTTP answer: {exc}")
            self._fail(ours)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._busy and not self.complete:
            if self._until_eof and exc is None and self._head is not None and self._head.done():
                self._finished()  # the body was delimited by the (clean) end of the connection
            else:
                error = UpstreamDisconnectedError("the upstream closed the connection")
                if exc is not None:
                    error.__cause__ = exc
                self._error = error
                self._wake(error)
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_exception(UpstreamDisconnectedError("the upstream closed the connection"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.status or self.complete:
            # More bytes after the answer: never a second answer to one request.
            raise UpstreamMalformedError("the upstream sent more than one answer")
        self.headers = []
        self._in_head = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer field: not a header of the answer (RFC 9110 6.5.1)
        if len(self.headers) >= MAX_HEADERS:
            raise UpstreamMalformedError(f"more than {MAX_HEADERS} header fields")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._unparsed = 0
        status = self._parser.get_status_code()
        if self._parser.get_http_version() not in ("1.1", "1.0") or status < 100:
            raise UpstreamMalformedError("not an HTTP/1.x answer")
        if status < 200:
            self._informational = True  # 100 Continue and the like: the real answer follows
            return
        self.status = status
        self._keep_alive = self._parser.should_keep_alive()
        length: int | None = None
        chunked = False
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length" and length is None:
                length = int(value) if value.strip().isdigit() else None
            elif lower == b"transfer-encoding":  # as llhttp decides: the last coding
                chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
        self.content_length = None if chunked else length
        no_body = self._head_request or status in (204, 304)
        self._until_eof = not no_body and not chunked and length is None
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)
        if self._head_request:
            self._finished()  # llhttp would wait for the Content-Length bytes: never reused

    def on_body(self, body: bytes) -> None:
        self._unparsed = 0
        if self._informational:
            raise UpstreamMalformedError("an informational answer with a body")
        if self.complete:
            return  # a HEAD answer's announced body, which the parser expects
        self._body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._unparsed = 0
        if self._informational:
            self._informational = False
            return
        if not self.complete:
            self._finished()

    # -- internals ------------------------------------------------------------------------

    def _finished(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: UpstreamClientError) -> None:
        self._error = error
        self._wake(error)
        self.abort()

    def _wake(self, error: BaseException | None = None) -> None:
        head = self._head
        if error is not None and head is not None and not head.done():
            head.set_exception(error)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
