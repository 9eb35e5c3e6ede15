"""The reverse proxy: one pooled HTTP client per upstream, bodies streamed in both directions.

A request body is read from the client *before* an upstream connection is taken, up to
``buffer_bytes`` (64 KiB by default): a body that ends within that is sent as one piece, so a
client that stalls mid-body holds no upstream connection at all (the server's body deadline
closes it). A larger body streams: the part already read, then the rest as it arrives (so an
upload reaches the service while it is still arriving, memory stays flat, and the body limit
cuts it off); such a stall holds one connection until the body deadline, and the per-caller
limit (:class:`CallerLimiter`) bounds how many one caller can hold. The response body is
relayed chunk by chunk as it comes. Hop-by-hop headers are dropped both
ways; the caller's ``Authorization`` goes through unchanged; ``X-Request-ID`` and
``traceparent`` carry the gateway's request id and span to the service.

Failures become problems naming the upstream (``"upstream": "ideas"``): upstream not reachable →
502 ``upstream_unavailable``, no answer in time → 504 ``upstream_timeout``, connection pool
exhausted → 503 ``upstream_busy``, breaker open → 503 ``upstream_circuit_open`` with
``Retry-After`` (:mod:`kommune_gateway.resilience`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import quote

import httpx
import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from kommune.errors import DomainError
from kommune.telemetry.context import current_traceparent, request_id_var
from kommune.telemetry.logging import later
from kommune.telemetry.metrics import child
from kommune.telemetry.middleware import body_headers
from kommune_gateway.resilience import (
    FAILURE_STATUS,
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUS,
    UPSTREAM_RETRIES,
    CircuitBreaker,
    UpstreamPolicy,
)
from kommune_gateway.upstream_client import (
    UpstreamClient,
    UpstreamClientError,
    UpstreamConnectError,
    UpstreamReply,
)

log = structlog.get_logger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set again by this hop: the server adds its own date/server, the middleware its request id.
_REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "x-request-id",
    "traceparent",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
}
_RESPONSE_DROP = HOP_BY_HOP | {"date", "server", "x-request-id", "traceparent"}


class GatewayProblem(DomainError):  # noqa: N818 - named like kommune.errors
    """A problem the gateway itself answers, naming the upstream, with optional headers."""

    def __init__(
        self, upstream: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail, upstream=upstream)
        self.headers = dict(headers or {})


class UpstreamUnavailable(GatewayProblem):
    status_code = 502
    code = "upstream_unavailable"
    title = "Upstream service unavailable"


class UpstreamTimeout(GatewayProblem):
    status_code = 504
    code = "upstream_timeout"
    title = "Upstream service timed out"


class UpstreamBusy(GatewayProblem):
    status_code = 503
    code = "upstream_busy"
    title = "Upstream service busy"


class UpstreamNotDeployed(GatewayProblem):
    status_code = 503
    code = "upstream_not_deployed"
    title = "Service not deployed"


class CircuitOpen(GatewayProblem):
    status_code = 503
    code = "upstream_circuit_open"
    title = "Upstream service failing"


UPSTREAM_REQUESTS = Counter(
    "kommune_gateway_upstream_requests",
    "Attempts sent to an upstream, by outcome (the status code, or timeout/unreachable/refused).",
    ("upstream", "outcome"),
)
UPSTREAM_LATENCY = Histogram(
    "kommune_gateway_upstream_latency_seconds",
    "Time from sending a request to an upstream until its answer's headers arrived.",
    ("upstream",),
)


class UpstreamPool:
    """Per upstream: an :class:`~kommune_gateway.upstream_client.UpstreamClient` for proxying,
    a :class:`UpstreamPolicy`, a breaker, and an ``httpx`` client for the gateway's own calls
    (``/readyz``, ``/openapi.json``).

    The proxy's own client rather than httpx or aiohttp on the hot path: a proxied GET spent
    40 % of the gateway's CPU in httpx/httpcore/anyio/h11, and later about a third in aiohttp
    (bench/bench_gateway.py --profile; ADR 0015, amendment 5). A semaphore of
    ``max_connections`` per upstream is the pool: waiting longer than ``pool_timeout`` for it
    is 503 ``upstream_busy``. Kept-alive connections (at most ``max_keepalive`` idle ones) are
    dropped after ``keepalive_seconds``, below the services' own 5 s, so the gateway never
    reuses one the service is closing. ``transports`` replaces the network of the ``httpx``
    clients only.
    """

    def __init__(
        self,
        upstreams: Mapping[str, str],
        *,
        policies: Mapping[str, UpstreamPolicy] | None = None,
        default_policy: UpstreamPolicy | None = None,
        pool_timeout: float = 5.0,
        max_connections: int = 200,
        max_keepalive: int = 50,
        keepalive_seconds: float = 4.0,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.base_urls = dict(upstreams)
        self.pool_timeout = pool_timeout
        default = default_policy or UpstreamPolicy()
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_seconds,
        )
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._proxies: dict[str, UpstreamClient] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._policies: dict[str, UpstreamPolicy] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive
        self._keepalive_seconds = keepalive_seconds
        for name, base_url in self.base_urls.items():
            if not base_url:
                continue
            policy = (policies or {}).get(name) or default
            timeout = httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=pool_timeout,
            )
            transport = (transports or {}).get(name) or httpx.AsyncHTTPTransport(limits=limits)
            self._clients[name] = httpx.AsyncClient(
                base_url=base_url,
                transport=transport,
                timeout=timeout,
                limits=limits,
                follow_redirects=False,
                trust_env=False,
                # The clients are shared by all callers: never keep one caller's cookies.
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
            self._policies[name] = policy
            self._breakers[name] = CircuitBreaker(
                name, policy.breaker_threshold, policy.breaker_open_seconds
            )

    def client(self, name: str) -> httpx.AsyncClient:
        client = self._clients.get(name)
        if client is None:
            raise UpstreamNotDeployed(name, f"The {name} service is not deployed here.")
        return client

    def proxy_client(self, name: str) -> UpstreamClient:
        """The proxying client (made on first use: its connections belong to the running loop)."""
        proxy = self._proxies.get(name)
        if proxy is None:
            self.client(name)  # not deployed → 503
            policy = self._policies[name]
            proxy = UpstreamClient(
                self.base_urls[name],
                connect_timeout=policy.connect_timeout,
                read_timeout=policy.read_timeout,
                keepalive_seconds=self._keepalive_seconds,
                max_idle=self._max_keepalive,
            )
            self._proxies[name] = proxy
            self._slots[name] = asyncio.Semaphore(self._max_connections)
        return proxy

    def slots(self, name: str) -> asyncio.Semaphore:
        self.proxy_client(name)
        return self._slots[name]

    def policy(self, name: str) -> UpstreamPolicy:
        return self._policies[name]

    def breaker(self, name: str) -> CircuitBreaker:
        return self._breakers[name]

    def names(self) -> list[str]:
        return list(self._clients)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        for proxy in self._proxies.values():
            proxy.close()


class CallerLimiter:
    """At most ``limit`` requests in flight per caller (token subject, or client address).

    One caller's stalled uploads or slow downloads then cannot hold more than ``limit`` of the
    upstream connections that every user shares; beyond that the caller gets 429 at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, int] = {}

    def in_flight(self, caller: str) -> int:
        return self._active.get(caller, 0)

    def __len__(self) -> int:
        """Callers with a request in flight (idle ones leave no entry behind)."""
        return len(self._active)

    def acquire(self, caller: str) -> Callable[[], None]:
        """Take a slot (or raise 429); returns the release function (safe to call twice)."""
        active = self._active.get(caller, 0)
        if active >= self.limit:
            raise HTTPException(
                429,
                f"Too many requests in flight for this caller (limit {self.limit}).",
                headers={"Retry-After": "1"},
            )
        self._active[caller] = active + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            remaining = self._active.get(caller, 1) - 1
            if remaining > 0:
                self._active[caller] = remaining
            else:
                self._active.pop(caller, None)

        return release


RequestBody = bytes | AsyncIterator[bytes] | None


async def read_body(scope: Scope, receive: Receive, buffer_bytes: int) -> RequestBody:
    """The request body: whole bytes if it ends within ``buffer_bytes``, else a stream.

    The stream replays what was read, then continues with the rest from the client.
    """
    if not has_body(scope):
        return None
    stream = _body_chunks(receive)
    head: list[bytes] = []
    size = 0
    async for chunk in stream:
        head.append(chunk)
        size += len(chunk)
        if size > buffer_bytes:
            return _replay(head, stream)
    return b"".join(head)


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive; :class:`ClientDisconnect` if the caller goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _replay(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    head.clear()
    async for chunk in rest:
        yield chunk


def has_body(scope: Scope) -> bool:
    length, chunked = body_headers(scope)
    return chunked or (length is not None and length.strip() not in ("", "0"))


def forward_headers(scope: Scope) -> list[tuple[str, str]]:
    """The caller's end-to-end headers plus forwarding and trace context for the upstream.

    One pass over the raw header list (the first ``Host`` and ``X-Forwarded-For`` count, as
    ``request.headers.get`` would have them; every ``Connection`` line names hop-by-hop headers).
    """
    host = forwarded_for = None
    connection = False
    headers: list[tuple[str, str]] = []
    for raw_key, raw_value in scope["headers"]:
        key = raw_key.decode("latin-1")
        value = raw_value.decode("latin-1")
        if key in _REQUEST_DROP:
            if key == "connection":
                connection = True
            elif key == "host" and host is None:
                host = value
            elif key == "x-forwarded-for" and forwarded_for is None:
                forwarded_for = value
            continue
        headers.append((key, value))
    if connection:
        named = {token.decode("latin-1") for token in named_by_connection(scope["headers"])}
        headers = [(key, value) for key, value in headers if key not in named]
    request_id = request_id_var.get()
    if request_id:
        headers.append(("x-request-id", request_id))
    traceparent = current_traceparent()
    if traceparent:
        headers.append(("traceparent", traceparent))
    client = scope.get("client")
    if client:
        address = client[0]
        headers.append(
            ("x-forwarded-for", f"{forwarded_for}, {address}" if forwarded_for else address)
        )
    headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
    if host is not None:
        headers.append(("x-forwarded-host", host))
    return headers


def named_by_connection(raw: Sequence[tuple[bytes, bytes]]) -> set[bytes]:
    """The header names (lower case) that the ``Connection`` fields of ``raw`` declare
    hop-by-hop: every ``Connection`` line counts (RFC 9110 7.6.1)."""
    return {
        token.strip().lower()
        for key, value in raw
        if key.lower() == b"connection"
        for token in value.split(b",")
    }


def response_headers(upstream: UpstreamAnswer) -> list[tuple[bytes, bytes]]:
    """The upstream's headers without hop-by-hop ones (also those its ``Connection`` names)."""
    raw = upstream.reply.raw_headers
    named = named_by_connection(raw)
    return [
        (key, value)
        for key, value in raw
        if (lower := key.lower()) not in _RESPONSE_DROP_BYTES and lower not in named
    ]


_RESPONSE_DROP_BYTES = frozenset(name.encode() for name in _RESPONSE_DROP)
SMALL_BODY = 64 * 1024
"""An answer of at most this many bytes (by Content-Length) is read whole and sent in one piece."""


class UpstreamAnswer:
    """An upstream's answer whose body is still to be read; holds a connection slot until closed."""

    def __init__(self, reply: UpstreamReply, slot: asyncio.Semaphore) -> None:
        self.reply = reply
        self.status = reply.status
        self._slot: asyncio.Semaphore | None = slot

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer coding removed, content coding kept)."""
        return self.reply.chunks()

    async def read_small(self) -> bytes | None:
        """The whole body if its Content-Length says it is small, else None (nothing read)."""
        length = self.reply.content_length
        if length is None or length > SMALL_BODY:
            return None
        return await self.reply.read()

    async def aclose(self) -> None:
        """Give the connection back (kept alive if the body was read to the end)."""
        if self._slot is None:
            return
        slot, self._slot = self._slot, None
        try:
            self.reply.finish()
        finally:
            slot.release()


class UpstreamResponse(Response):
    """Relays an upstream response as it arrives; the upstream connection is always released.

    A small answer (Content-Length within :data:`SMALL_BODY`) is read whole and sent as one
    message: most API answers are, and they need none of the streaming machinery, so it is
    only built (a :class:`StreamingResponse`, which also notices a client that goes away) for
    the others. ``raw_headers`` may be extended until the response is sent.
    """

    def __init__(
        self,
        upstream: UpstreamAnswer,
        on_close: Callable[[], None] | None = None,
        *,
        head: Sequence[bytes] = (),
        rest: AsyncIterator[bytes] | None = None,
    ) -> None:
        """``head``/``rest``: the body was partly read already (``rest`` continues it)."""
        # Response.__init__ is not called: it would render a body and compute headers that
        # the upstream's own replace.
        self._upstream = upstream
        self._on_close: list[Callable[[], None]] = [on_close] if on_close else []
        self._head = head
        self._rest = rest
        self.status_code = upstream.status
        self.background = None
        # Raw pairs keep repeated headers (Set-Cookie, Link) and the upstream's own encoding.
        self.raw_headers = response_headers(upstream)

    @staticmethod
    async def _relay(head: Sequence[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        for chunk in head:
            yield chunk
        try:
            async for chunk in rest:
                yield chunk
        except (UpstreamClientError, TimeoutError) as exc:
            # Headers are out already: all we can do is cut the response short.
            log.warning("upstream_body_aborted", error=type(exc).__name__)
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            partly_read = bool(self._head) or self._rest is not None
            small = None if partly_read else await self._read_small()
            if small is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                await send({"type": "http.response.body", "body": small})
            else:
                rest = self._rest if self._rest is not None else self._upstream.chunks()
                stream = StreamingResponse(
                    self._relay(self._head, rest), status_code=self.status_code
                )
                stream.raw_headers = self.raw_headers
                await stream(scope, receive, send)
        finally:
            # Also on client disconnect, and when the body failed half-way.
            try:
                await self._upstream.aclose()
            finally:
                for callback in self._on_close:
                    callback()

    async def _read_small(self) -> bytes | None:
        try:
            return await self._upstream.read_small()
        except (UpstreamClientError, TimeoutError) as exc:
            log.warning("upstream_body_aborted", error=type(exc).__name__)
            raise

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the answer is sent (or abandoned)."""
        self._on_close.append(callback)


def upstream_target(scope: Scope) -> str:
    """The path and query exactly as the caller encoded them (services own the full path)."""
    raw_path = scope.get("raw_path") or b""
    query = scope.get("query_string") or b""
    target = raw_path + (b"?" + query if query else b"")
    if not raw_path or not target.isascii():
        encoded = quote(scope["path"], safe="/:@!$&'()*+,;=-._~%")
        target = encoded.encode() + (b"?" + quote(query, safe="=&+%").encode() if query else b"")
    return target.decode("ascii")


async def proxy_request(
    scope: Scope,
    upstream: str,
    pool: UpstreamPool,
    body: RequestBody,
    on_close: Callable[[], None] | None = None,
) -> UpstreamResponse:
    """Forward the request of ``scope`` with ``body`` (:func:`read_body`) to ``upstream`` and
    relay the answer as a stream; ``on_close`` runs once the answer is sent (or abandoned)."""
    return UpstreamResponse(await send_upstream(scope, upstream, pool, body), on_close)


class _BodyFailure:
    """What went wrong while reading the caller's body (the upstream exchange then fails as a
    broken connection; we re-raise the caller's error instead)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    async def watch(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        except BaseException as exc:
            self.error = exc
            raise


async def send_upstream(
    scope: Scope, upstream: str, pool: UpstreamPool, body: RequestBody
) -> UpstreamAnswer:
    """The upstream's answer to the request of ``scope`` with ``body``, its body not read yet
    (close it).

    An idempotent request whose body can be sent again is retried (with backoff, within the
    upstream's total timeout) when the connection failed or the upstream answered 502/503:
    nothing has been sent to the caller yet. Every attempt asks the upstream's breaker first.
    """
    proxy = pool.proxy_client(upstream)
    slots = pool.slots(upstream)
    policy = pool.policy(upstream)
    breaker = pool.breaker(upstream)
    method: str = scope["method"]
    attempts = 1
    streamed = isinstance(body, AsyncIterator)
    if method in IDEMPOTENT_METHODS and not streamed:
        attempts += policy.retries
    target = upstream_target(scope)
    headers = forward_headers(scope)
    failure = _BodyFailure()
    data = failure.watch(body) if isinstance(body, AsyncIterator) else body
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.total_timeout
    attempt = 0
    while True:
        attempt += 1
        if not breaker.allow():
            retry_after = breaker.retry_after()
            child(UPSTREAM_REQUESTS, upstream, "circuit_open").inc()
            raise CircuitOpen(
                upstream,
                f"The {upstream} service is failing; the gateway tries again in {retry_after} s.",
                {"Retry-After": str(retry_after)},
            )
        try:
            if slots.locked():  # only then is there anything to wait for (and time out)
                async with asyncio.timeout(pool.pool_timeout):
                    await slots.acquire()
            else:
                await slots.acquire()  # returns at once
        except TimeoutError:
            breaker.abandon()
            child(UPSTREAM_REQUESTS, upstream, "pool_timeout").inc()
            detail = f"The {upstream} service has no free connection."
            raise UpstreamBusy(upstream, detail) from None
        started = loop.time()
        try:
            if streamed:
                # The upload bounds itself per piece (the edge's body deadline towards the
                # caller, read_timeout towards the upstream); the upstream's time to answer
                # starts once the body is sent: a slow caller is not the upstream's timeout.
                answer_timeout = min(policy.read_timeout, policy.total_timeout)
                reply = await proxy.send(
                    method, target, headers, data, answer_timeout=answer_timeout
                )
            else:
                # The wait for the answer's head is also a wait between two pieces of it.
                async with asyncio.timeout_at(min(deadline, started + policy.read_timeout)):
                    reply = await proxy.send(method, target, headers, data)
        except BaseException as exc:
            slots.release()
            if failure.error is not None:
                breaker.abandon()
                raise failure.error from None  # the caller's body failed, not the upstream
            if isinstance(exc, UpstreamConnectError):  # nothing sent: safe to repeat
                breaker.record_failure()
                child(UPSTREAM_REQUESTS, upstream, "unreachable").inc()
                if await _may_retry(attempt, attempts, policy, deadline, upstream, "connect"):
                    continue
                log.warning("upstream_unreachable", upstream=upstream, error=type(exc).__name__)
                detail = f"The {upstream} service is unreachable."
                raise UpstreamUnavailable(upstream, detail) from None
            if isinstance(exc, TimeoutError):
                breaker.record_failure()
                child(UPSTREAM_REQUESTS, upstream, "timeout").inc()
                log.warning("upstream_timeout", upstream=upstream, path=scope["path"])
                raise UpstreamTimeout(
                    upstream, f"The {upstream} service did not answer in time."
                ) from None
            if isinstance(exc, UpstreamClientError):
                breaker.record_failure()
                child(UPSTREAM_REQUESTS, upstream, "unavailable").inc()
                log.warning("upstream_unavailable", upstream=upstream, error=type(exc).__name__)
                detail = f"The {upstream} service is unavailable."
                raise UpstreamUnavailable(upstream, detail) from None
            breaker.abandon()
            raise
        answer = UpstreamAnswer(reply, slots)
        status = reply.status
        later(_record_attempt, upstream, status, loop.time() - started)
        if status in FAILURE_STATUS:
            breaker.record_failure()
        else:
            breaker.record_success()
        if status in RETRYABLE_STATUS and attempt < attempts:
            await answer.aclose()
            if await _may_retry(attempt, attempts, policy, deadline, upstream, str(status)):
                continue
            raise UpstreamUnavailable(
                upstream, f"The {upstream} service answered {status} to every attempt."
            )
        return answer


def _record_attempt(upstream: str, status: int, seconds: float) -> None:
    """An answered attempt's metrics (run :func:`~kommune.telemetry.logging.later`)."""
    child(UPSTREAM_LATENCY, upstream).observe(seconds)
    child(UPSTREAM_REQUESTS, upstream, status).inc()


async def _may_retry(
    attempt: int,
    attempts: int,
    policy: UpstreamPolicy,
    deadline: float,
    upstream: str,
    reason: str,
) -> bool:
    """Sleep the backoff and return True if another attempt fits before ``deadline``."""
    if attempt >= attempts:
        return False
    pause = policy.backoff(attempt)
    if asyncio.get_running_loop().time() + pause >= deadline:
        return False
    UPSTREAM_RETRIES.labels(upstream, reason).inc()
    await asyncio.sleep(pause)
    return True
