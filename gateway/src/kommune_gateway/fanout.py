"""Parallel reads from several upstreams for one answer, each allowed to fail on its own.

Used by the aggregating endpoints (:mod:`kommune_gateway.dashboard`). Every part is one GET to
one upstream, sent with the *caller's* ``Authorization`` (each service decides what the caller
may see), a short deadline of its own and through that upstream's circuit breaker. A part that
fails is reported as missing with the reason instead of failing the whole answer:

=================  ============================================================================
``timeout``        no answer within the part's deadline
``unavailable``    connection refused or broken, or the upstream answered 502/503/504
``circuit_open``   the upstream's breaker is open: not even tried
``not_deployed``   the upstream has no URL in this deployment
``unauthorized``   the upstream refused the token (401)
``forbidden``      the upstream refused the caller (403): the caller may not see this part
``not_available``  the upstream does not offer the endpoint (404/405: an older version)
``error``          any other answer, or a body that is not what the contract says
=================  ============================================================================

Parts run with :func:`asyncio.gather` and every failure is caught per part (a ``TaskGroup`` would
cancel the siblings on the first error).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from kommune.telemetry.context import current_traceparent, request_id_var
from kommune_gateway.proxy import UpstreamNotDeployed, UpstreamPool
from kommune_gateway.resilience import FAILURE_STATUS

log = structlog.get_logger(__name__)

PART_FAILURES = Counter(
    "kommune_gateway_aggregate_missing",
    "Parts of an aggregated answer left out, by part and reason.",
    ("part", "upstream", "reason"),
)

Extract = Callable[[Any], Any]
"""Turns the upstream's JSON body into the part's value; raises (KeyError, TypeError,
ValueError) when the body is not what the contract says."""


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    upstream: str
    path: str
    extract: Extract
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Missing:
    part: str
    upstream: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"part": self.part, "upstream": self.upstream, "reason": self.reason}


@dataclass(slots=True)
class Gathered:
    values: dict[str, Any] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)


class _PartFailed(Exception):  # noqa: N818 - internal signal, carries the reason
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def gather_parts(
    pool: UpstreamPool, parts: Sequence[Part], *, authorization: str, deadline: float
) -> Gathered:
    """Fetch every part in parallel; the answer holds what came, and names what did not."""
    results = await asyncio.gather(
        *(_fetch(pool, part, authorization, deadline) for part in parts), return_exceptions=True
    )
    gathered = Gathered()
    for part, result in zip(parts, results, strict=True):
        if isinstance(result, _PartFailed):
            gathered.missing.append(Missing(part.name, part.upstream, result.reason))
            PART_FAILURES.labels(part.name, part.upstream, result.reason).inc()
        elif isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            log.error("aggregate_part_failed", part=part.name, error=repr(result))
            gathered.missing.append(Missing(part.name, part.upstream, "error"))
            PART_FAILURES.labels(part.name, part.upstream, "error").inc()
        else:
            gathered.values[part.name] = result
    return gathered


def _headers(authorization: str) -> dict[str, str]:
    headers = {"Authorization": authorization, "Accept": "application/json"}
    request_id = request_id_var.get()
    if request_id:
        headers["X-Request-ID"] = request_id
    traceparent = current_traceparent()
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


async def _fetch(pool: UpstreamPool, part: Part, authorization: str, deadline: float) -> Any:
    try:
        client = pool.client(part.upstream)
    except UpstreamNotDeployed:
        raise _PartFailed("not_deployed") from None
    breaker = pool.breaker(part.upstream)
    if not breaker.allow():
        raise _PartFailed("circuit_open")
    verdict = False
    try:
        try:
            async with asyncio.timeout(deadline):
                response = await client.get(
                    part.path, params=dict(part.params), headers=_headers(authorization)
                )
                body = response.content
        except TimeoutError:
            breaker.record_failure()
            verdict = True
            raise _PartFailed("timeout") from None
        except httpx.TimeoutException:
            breaker.record_failure()
            verdict = True
            raise _PartFailed("timeout") from None
        except httpx.HTTPError:
            breaker.record_failure()
            verdict = True
            raise _PartFailed("unavailable") from None
        status = response.status_code
        if status in FAILURE_STATUS:
            breaker.record_failure()
            verdict = True
            raise _PartFailed("unavailable")
        breaker.record_success()  # the upstream answered: it is up, whatever it said
        verdict = True
        return _value(part, status, body)
    finally:
        if not verdict:
            breaker.abandon()  # cancelled: the caller went away, no verdict on the upstream


def _value(part: Part, status: int, body: bytes) -> Any:
    if status == 401:
        raise _PartFailed("unauthorized")
    if status == 403:
        raise _PartFailed("forbidden")
    if status in (404, 405):
        raise _PartFailed("not_available")
    if status != 200:
        raise _PartFailed("error")
    try:
        return part.extract(json.loads(body))
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("aggregate_part_unexpected_body", part=part.name, upstream=part.upstream)
        raise _PartFailed("error") from None
