"""A POST with ``Idempotency-Key`` through the proxy: claim, forward and store, or replay.

See :mod:`kommune_gateway.idempotency` for the rules and the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from starlette.responses import Response
from starlette.types import Receive, Scope

from kommune.errors import DomainError
from kommune.telemetry.middleware import header_value
from kommune_gateway.idempotency import (
    REPLAYED_HEADER,
    ClaimResult,
    Fingerprint,
    IdempotencyStore,
    StoredResponse,
    storable,
    valid_key,
)
from kommune_gateway.proxy import (
    GatewayProblem,
    UpstreamPool,
    UpstreamResponse,
    read_body,
    response_headers,
    send_upstream,
    upstream_target,
)

log = structlog.get_logger(__name__)

_background: set[asyncio.Task[None]] = set()


class InvalidIdempotencyKey(DomainError):  # noqa: N818 - named like kommune.errors
    status_code = 400
    code = "invalid_idempotency_key"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyReused(DomainError):  # noqa: N818 - named like kommune.errors
    status_code = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key used for another request"


class IdempotencyInFlight(GatewayProblem):
    status_code = 409
    code = "idempotency_in_flight"
    title = "A request with this Idempotency-Key is in progress"


class IdempotencyUnavailable(GatewayProblem):
    status_code = 503
    code = "idempotency_unavailable"
    title = "Idempotency store unavailable"


_STORE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def idempotent_proxy(
    scope: Scope,
    receive: Receive,
    upstream: str,
    pool: UpstreamPool,
    store: IdempotencyStore,
    *,
    caller: str,
    key: str,
    buffer_bytes: int,
    max_response_bytes: int,
) -> Response:
    if not valid_key(key):
        raise InvalidIdempotencyKey(
            "The Idempotency-Key must be 1-255 visible ASCII characters (e.g. a UUID)."
        )
    fingerprint = Fingerprint(
        scope["method"],
        upstream_target(scope).encode(),
        header_value(scope, b"content-type") or "",
    )
    try:
        claim, stored = await store.claim(caller, key)
    except _STORE_ERRORS as exc:
        log.warning("idempotency_store_unavailable", error=type(exc).__name__)
        raise IdempotencyUnavailable(
            upstream, "Requests with an Idempotency-Key cannot be accepted right now."
        ) from None
    if claim is ClaimResult.IN_FLIGHT:
        raise IdempotencyInFlight(
            upstream,
            "The first request with this Idempotency-Key has not finished; try again later.",
            {"Retry-After": "1"},
        )
    body = await read_body(scope, receive, buffer_bytes)
    if stored is not None:
        if await _digest(fingerprint, body) != stored.fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for a request with another method, path or body."
            )
        return _replay(stored)
    return await _forward_and_store(
        scope, upstream, pool, store, caller, key, fingerprint, body, max_response_bytes
    )


async def _forward_and_store(
    scope: Scope,
    upstream: str,
    pool: UpstreamPool,
    store: IdempotencyStore,
    caller: str,
    key: str,
    fingerprint: Fingerprint,
    body: bytes | AsyncIterator[bytes] | None,
    max_response_bytes: int,
) -> Response:
    kept = False
    try:
        if body is None or isinstance(body, bytes):
            fingerprint.of_bytes(body)
            send: bytes | AsyncIterator[bytes] | None = body
        else:
            send = fingerprint.through(body)
        response = await send_upstream(scope, upstream, pool, send)
        head: list[bytes] = []
        size = 0
        chunks = response.chunks()
        try:
            async for chunk in chunks:
                head.append(chunk)
                size += len(chunk)
                if size > max_response_bytes:
                    break
        except BaseException:
            await response.aclose()
            raise
        complete = size <= max_response_bytes
        if not (complete and storable(response.status) and fingerprint.complete):
            if not complete:
                log.warning("idempotency_response_too_large", upstream=upstream)
            # Not kept: the rest (if any) is relayed as it comes.
            return UpstreamResponse(response, head=head, rest=chunks)
        await response.aclose()
        content = b"".join(head)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in response_headers(response)
            if k.lower() != b"content-length"
        ]
        await store.complete(caller, key, fingerprint.digest(), response.status, headers, content)
        kept = True
        return _response(response.status, headers, content)
    finally:
        if not kept:
            # Also when cancelled (client gone): a task of its own, so the release still runs.
            _spawn(_release(store, caller, key))


async def _digest(fingerprint: Fingerprint, body: bytes | AsyncIterator[bytes] | None) -> bytes:
    if body is None or isinstance(body, bytes):
        return fingerprint.of_bytes(body)
    async for _ in fingerprint.through(body):
        pass
    return fingerprint.digest()


def _replay(stored: StoredResponse) -> Response:
    response = _response(stored.status, stored.headers, stored.body)
    response.raw_headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    return response


def _response(status: int, headers: list[tuple[str, str]], content: bytes) -> Response:
    response = Response(status_code=status)
    response.body = content
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if status >= 200 and status not in (204, 304):
        response.raw_headers.append((b"content-length", str(len(content)).encode()))
    return response


async def _release(store: IdempotencyStore, caller: str, key: str) -> None:
    try:
        await store.release(caller, key)
    except _STORE_ERRORS as exc:
        # The claim then lapses after lock_seconds.
        log.warning("idempotency_release_failed", error=type(exc).__name__)


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)
