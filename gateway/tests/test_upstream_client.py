"""The proxy's HTTP/1.1 client against a scripted upstream (real sockets, exact bytes).

The gateway's own tests run it behind the proxy against real services; these pin the
connection handling a real service rarely shows: reuse and its limits, answers without a
length, informational answers, early answers, broken and malformed answers, backpressure.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from kommune_gateway.upstream_client import (
    HIGH_WATER,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnectedError,
    UpstreamMalformedError,
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


def ok(body: bytes = b"hello", *extra: str) -> bytes:
    headers = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n{headers}\r\n".encode() + body


class Upstream:
    """Answers each request with the next scripted answer: bytes (after reading the request's
    body), or a function that gets the stream and the request head and does what it likes."""

    def __init__(self, *answers: bytes | Script) -> None:
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                answer = self.answers.pop(0)
                if not isinstance(answer, bytes):
                    self.requests.append((head, b""))
                    await answer(reader, writer, head)
                    continue
                self.requests.append((head, await _read_body(reader, head)))
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    return
        finally:
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return body
            body += chunk[:-2]
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


def client(url: str, **overrides: Any) -> UpstreamClient:
    settings: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "keepalive_seconds": 4.0,
        "max_idle": 10,
    }
    return UpstreamClient(url, **{**settings, **overrides})


async def get(upstream: UpstreamClient, method: str = "GET", **kwargs: Any) -> tuple[int, bytes]:
    reply = await upstream.send(
        method, "/x?y=1", kwargs.get("headers", [("accept", "*/*")]), kwargs.get("body")
    )
    try:
        return reply.status, await reply.read()
    finally:
        reply.finish()


async def test_a_complete_answer_keeps_the_connection_for_the_next_request() -> None:
    async with Upstream(ok(b"one"), ok(b"two")) as upstream:
        proxy = client(upstream.url)
        assert await get(proxy) == (200, b"one")
        assert proxy.idle() == 1
        assert await get(proxy) == (200, b"two")
        assert upstream.connections == 1
        head = upstream.requests[0][0]
        assert head.startswith(b"GET /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:")
        assert b"\r\naccept: */*\r\n" in head
        proxy.close()


def test_it_works_on_uvloop_as_served() -> None:
    uvloop.run(test_a_complete_answer_keeps_the_connection_for_the_next_request())


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (ok(b"bye", "connection: close"), "the upstream closes it"),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nhi", "HTTP/1.0 without keep-alive"),
    ],
)
async def test_a_connection_the_upstream_ends_is_not_reused(answer: bytes, reason: str) -> None:
    async with Upstream(answer, ok()) as upstream:
        proxy = client(upstream.url)
        await get(proxy)
        assert proxy.idle() == 0, reason
        assert await get(proxy) == (200, b"hello")
        assert upstream.connections == 2


async def hang_up(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
    writer.close()


async def test_a_kept_connection_closed_on_reuse_is_retried_only_if_idempotent() -> None:
    async with Upstream(ok(b"one"), hang_up, ok(b"again")) as upstream:
        proxy = client(upstream.url)
        await get(proxy)
        assert await get(proxy, "PUT", body=b"same") == (200, b"again")
        assert upstream.connections == 2
    async with Upstream(ok(b"one"), hang_up, ok(b"again")) as upstream:
        proxy = client(upstream.url)
        await get(proxy)
        with pytest.raises(UpstreamDisconnectedError):
            await get(proxy, "POST", body=b"once")
        assert upstream.connections == 1


async def test_idle_connections_expire_and_are_capped() -> None:
    async with Upstream(ok(), ok()) as upstream:
        proxy = client(upstream.url, keepalive_seconds=0.05)
        await get(proxy)
        await asyncio.sleep(0.1)
        await get(proxy)
        assert upstream.connections == 2
    async with Upstream(ok(), ok()) as upstream:
        proxy = client(upstream.url, max_idle=0)
        await get(proxy)
        assert proxy.idle() == 0


@pytest.mark.parametrize("stray", [b"", b"body bytes a HEAD answer must not have"])
async def test_a_head_answer_has_no_body_and_its_connection_is_not_reused(stray: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n" + stray
    async with Upstream(answer, ok()) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("HEAD", "/x", [], None)
        assert (reply.status, reply.content_length) == (200, 1234)
        assert await reply.read() == b""
        reply.finish()
        assert proxy.idle() == 0


async def test_informational_answers_are_skipped() -> None:
    async def continue_first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)  # a packet of its own
        assert await _read_body(reader, head) == b"data"
        writer.write(ok(b"final"))
        await writer.drain()

    async with Upstream(continue_first, ok()) as upstream:
        proxy = client(upstream.url)
        assert await get(proxy, "POST", body=b"data") == (200, b"final")
        assert await get(proxy) == (200, b"hello")
        assert upstream.connections == 1


async def test_a_body_ended_by_the_connection_is_read_whole() -> None:
    async def until_close(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        writer.close()

    async with Upstream(until_close) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        assert reply.content_length is None
        assert await reply.read() == b"all of it"
        reply.finish()
        assert proxy.idle() == 0


async def closed_before_the_length(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
    await writer.drain()
    writer.close()


async def reset_before_the_end(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
    """A body delimited by the connection's end, cut by a reset (RST), not a close (FIN)."""
    writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nfirst half, ")
    await writer.drain()
    await asyncio.sleep(0.05)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("cut", [closed_before_the_length, reset_before_the_end])
async def test_an_answer_cut_short_is_an_error_not_a_short_body(cut: Script) -> None:
    async with Upstream(cut) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        with pytest.raises(UpstreamDisconnectedError):
            await reply.read()
        reply.finish()
        assert proxy.idle() == 0


async def test_a_stalled_body_times_out() -> None:
    async def stall(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nsome")
        await writer.drain()
        await asyncio.sleep(5)

    async with Upstream(stall) as upstream:
        proxy = client(upstream.url, read_timeout=0.2)
        reply = await proxy.send("GET", "/", [], None)
        with pytest.raises(TimeoutError):
            await reply.read()
        reply.finish()


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO WORLD\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 042 Odd\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 150 Odd\r\ncontent-length: 3\r\n\r\nabc" + ok(b""),
    ],
)
async def test_a_malformed_answer_is_an_error(answer: bytes) -> None:
    async def reply_with(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(1)

    async with Upstream(reply_with) as upstream:
        proxy = client(upstream.url)
        with pytest.raises(UpstreamMalformedError):
            await proxy.send("GET", "/", [("upgrade", "websocket")], None)
        assert proxy.idle() == 0


async def test_bytes_after_a_complete_answer_are_never_a_second_answer() -> None:
    first = ok(b"one", "x-who: first")
    smuggled = (
        b"HTTP/1.1 302 Found\r\nlocation: https://evil.example/\r\ncontent-length: 6\r\n\r\nSECRET"
    )
    async with Upstream(first + smuggled, ok(b"two")) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        assert (reply.status, await reply.read()) == (200, b"one")
        assert (b"x-who", b"first") in reply.raw_headers
        assert all(name != b"location" for name, _ in reply.raw_headers)
        reply.finish()
        assert proxy.idle() == 0  # a desynchronised connection is closed, not reused
        assert await get(proxy) == (200, b"two")
        assert upstream.connections == 2


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_an_answer_without_a_body_keeps_its_headers_when_body_bytes_follow(
    status: bytes,
) -> None:
    answer = b'HTTP/1.1 %b\r\netag: "v7"\r\ncontent-length: 9\r\n\r\n{"a": 1}' % status
    async with Upstream(answer) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        assert (b"etag", b'"v7"') in reply.raw_headers
        assert await reply.read() == b""
        reply.finish()
        assert proxy.idle() == 0


async def test_trailers_are_not_headers_of_the_answer() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n"
        b"5\r\nhello\r\n0\r\nset-cookie: session=fixed\r\nlocation: https://evil.example/\r\n\r\n"
    )
    async with Upstream(chunked, ok()) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        assert await reply.read() == b"hello"
        assert [name for name, _ in reply.raw_headers] == [b"transfer-encoding", b"content-type"]
        reply.finish()
        assert await get(proxy) == (200, b"hello")
        assert upstream.connections == 1


@pytest.mark.parametrize("flood", ["lines", "one endless value"])
async def test_an_endless_head_is_malformed_not_buffered(flood: str) -> None:
    async def endless(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nx-a: ")
        piece = b"1\r\nx-a: " * 4096 if flood == "lines" else b"a" * 16384
        for _ in range(64 * MAX_HEAD_BYTES // len(piece)):
            writer.write(piece)
            await writer.drain()

    async with Upstream(endless) as upstream:
        proxy = client(upstream.url)
        with pytest.raises(UpstreamMalformedError, match=r"head longer|header fields"):
            async with asyncio.timeout(5):  # not: buffered until the upstream gives up
                await proxy.send("GET", "/", [], None)


async def test_too_many_header_fields_are_malformed() -> None:
    many = "".join(f"x-{i}: {i}\r\n" for i in range(MAX_HEADERS + 1))
    answer = f"HTTP/1.1 200 OK\r\n{many}content-length: 0\r\n\r\n".encode()
    async with Upstream(answer) as upstream:
        with pytest.raises(UpstreamMalformedError, match=f"more than {MAX_HEADERS}"):
            await client(upstream.url).send("GET", "/", [], None)


@pytest.mark.parametrize("coding", ["gzip", "xchunked", "chunked, gzip"])
async def test_a_transfer_coding_not_ending_in_chunked_reads_to_the_end(coding: str) -> None:
    async def until_close(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\ntransfer-encoding: {coding}\r\n\r\nabc".encode())
        await writer.drain()
        writer.close()

    async with Upstream(until_close) as upstream:
        reply = await client(upstream.url).send("GET", "/", [], None)
        assert await reply.read() == b"abc"  # as llhttp frames it: to the connection's end
        reply.finish()


@pytest.mark.parametrize("pieces", [[b"abc", b"GET /admin HTTP/1.1\r\n\r\n"], [b"ab"]])
async def test_a_streamed_body_is_sent_exactly_as_long_as_it_declared(
    pieces: list[bytes],
) -> None:
    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: bytes) -> None:
        received.append(await reader.read(65536))
        await asyncio.sleep(5)  # waits for the rest (or for the end of the connection)

    received: list[bytes] = []
    async with Upstream(record) as upstream:
        proxy = client(upstream.url)
        with pytest.raises(UpstreamDisconnectedError):
            async with asyncio.timeout(2):
                await proxy.send("PUT", "/", [("content-length", "3")], stream())
        assert b"admin" not in b"".join(received)
        with pytest.raises(ValueError, match="not a number"):
            await proxy.send("PUT", "/", [("content-length", "3, 40")], stream())


async def test_a_slow_upload_is_not_the_upstreams_timeout() -> None:
    async def slow() -> AsyncIterator[bytes]:
        for _ in range(6):
            await asyncio.sleep(0.1)
            yield b"x" * 1024

    async def answer_after_body(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> None:
        writer.write(ok(b"%d" % len(await _read_body(reader, head))))
        await writer.drain()

    async with Upstream(answer_after_body) as upstream:
        proxy = client(upstream.url, read_timeout=0.3)
        # The upload takes twice the time the upstream has to answer once it is sent.
        reply = await proxy.send("PUT", "/", [], slow(), answer_timeout=0.3)
        assert (reply.status, await reply.read()) == (200, b"6144")
        reply.finish()


async def test_the_answer_after_an_upload_is_bounded() -> None:
    async def one() -> AsyncIterator[bytes]:
        yield b"data"

    async def never_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> None:
        await _read_body(reader, head)
        await asyncio.sleep(5)

    async with Upstream(never_answer) as upstream:
        with pytest.raises(TimeoutError):
            await client(upstream.url).send("PUT", "/", [], one(), answer_timeout=0.2)


async def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamConnectError):
        await client(f"http://127.0.0.1:{port}").send("GET", "/", [], None)


async def test_header_injection_is_refused_before_anything_is_sent() -> None:
    async with Upstream(ok()) as upstream:
        proxy = client(upstream.url)
        for headers in ([("x-a", "1\r\nx-b: 2")], [("x-a", "1\nx-b: 2")], [("x-a", "1\x00")]):
            with pytest.raises(ValueError, match="CR, LF or NUL"):
                await proxy.send("GET", "/", headers, None)
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            await proxy.send("GET", "/ HTTP/1.1\r\nx-b: 2\r\n", [], None)
        assert upstream.connections == 0


async def test_the_client_frames_the_request_itself() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b""
        yield b"defg"

    async with Upstream(ok(), ok(), ok(), ok()) as upstream:
        proxy = client(upstream.url)
        lying = [("content-length", "999"), ("Transfer-Encoding", "gzip"), ("Content-Length", "9")]
        await get(proxy, "POST", headers=lying, body=b"12345")
        await get(proxy, "POST", headers=[], body=None)
        await get(proxy, "PUT", headers=[], body=pieces())
        await get(proxy, "PUT", headers=[("content-length", "7")], body=pieces())
        (one, body1), (two, _), (three, body3), (four, body4) = upstream.requests
        assert b"content-length: 5\r\n" in one
        assert b"999" not in one
        assert b"gzip" not in one
        assert b"Content-Length" not in one
        assert body1 == b"12345"
        assert b"content-length: 0\r\n" in two
        assert b"transfer-encoding: chunked\r\n" in three
        assert body3 == b"abcdefg"
        assert b"content-length: 7\r\n" in four
        assert b"chunked" not in four
        assert body4 == b"abcdefg"
        assert upstream.connections == 1


async def test_an_early_answer_stops_the_upload_and_drops_the_connection() -> None:
    upload_closed = asyncio.Event()

    async def slow_upload() -> AsyncIterator[bytes]:
        try:
            yield b"x" * 65536
            await asyncio.sleep(3600)  # a caller that sends the rest some day
            yield b"x"
        finally:
            upload_closed.set()

    async def refuse(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(ok(b"too large").replace(b"200 OK", b"413 Content Too Large"))
        await writer.drain()
        await asyncio.sleep(1)

    async with Upstream(refuse) as upstream:
        proxy = client(upstream.url, read_timeout=5.0)
        reply = await proxy.send("PUT", "/", [], slow_upload())
        assert (reply.status, await reply.read()) == (413, b"too large")
        reply.finish()
        async with asyncio.timeout(1):
            await upload_closed.wait()  # the upload was given up, not left waiting
        assert proxy.idle() == 0


async def test_reading_pauses_while_the_body_is_not_taken() -> None:
    size = 4 * 1024 * 1024

    async def big(_: Any, writer: asyncio.StreamWriter, __: bytes) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
        writer.write(b"y" * size)
        await writer.drain()

    async with Upstream(big) as upstream:
        proxy = client(upstream.url)
        reply = await proxy.send("GET", "/", [], None)
        await asyncio.sleep(0.2)  # the upstream has written all it could meanwhile
        connection = reply._connection
        assert connection is not None
        assert connection.buffered <= HIGH_WATER + 256 * 1024  # one read beyond the mark
        assert len(await reply.read()) == size
        reply.finish()
        assert proxy.idle() == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://ideas:8000",
        "ideas:8000",
        "http://",
        "http://ideas:8000/prefix",
        "http://ideas:99999",
        "http://ideas:0",
        "http://user:pw@ideas:8000",
        "http://ideas:8000?x=1",
    ],
)
def test_only_plain_http_upstreams_are_accepted(url: str, gateway_settings_factory: Any) -> None:
    with pytest.raises(ValueError, match="http://host"):
        client(url)
    with pytest.raises(ValueError, match="upstream_ideas: an upstream URL is http://host"):
        gateway_settings_factory(upstream_ideas=url)
