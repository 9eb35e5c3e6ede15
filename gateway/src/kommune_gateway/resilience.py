"""Per-upstream resilience: timeouts, a circuit breaker and the retry rule.

A small module rather than a library: ``purgatory`` (the maintained asyncio breaker) runs every
guarded call through an async unit of work and a message bus, and counts exceptions only; the
gateway needs a check of a few attributes on its hot path, failures that are *responses*
(502/503/504 from the upstream), and exactly one probe request while half-open
(docs/adr/0015-gateway-resilience-idempotency-rate-limits.md).

The breaker, per upstream: **closed** until ``threshold`` consecutive failures, then **open**
for ``open_seconds`` (every call is refused at once with 503 ``upstream_circuit_open`` and
``Retry-After``), then **half-open**: one probe request goes through; its success closes the
breaker, its failure opens it again. A failure is a connection error, a timeout, or a
502/503/504 answer; a 500 is an answer (one broken endpoint must not cut off a whole service).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from prometheus_client import Counter, Gauge

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""RFC 9110 §9.2.2: repeating these has the effect of doing it once."""
RETRYABLE_STATUS = frozenset({502, 503})
"""Answers that mean "not handled" (a proxy or the service itself refusing), safe to repeat."""
FAILURE_STATUS = frozenset({502, 503, 504})

CIRCUIT_STATE = Gauge(
    "kommune_gateway_circuit_state",
    "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open.",
    ("upstream",),
)
CIRCUIT_OPENED = Counter(
    "kommune_gateway_circuit_opened",
    "Times the circuit breaker of an upstream opened.",
    ("upstream",),
)
UPSTREAM_RETRIES = Counter(
    "kommune_gateway_upstream_retries",
    "Requests sent again to an upstream (idempotent method, nothing answered yet).",
    ("upstream", "reason"),
)


class State(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """Timeouts, retries and breaker settings of one upstream (seconds)."""

    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    """Between two pieces of the answer (and of a streamed upload)."""
    total_timeout: float = 30.0
    """From the first attempt until the answer's headers arrived, retries and backoff included;
    for a streamed upload, from the moment its body is sent (the upload is bounded per piece)."""
    retries: int = 2
    backoff_seconds: float = 0.05
    """First backoff; doubled per retry, with full jitter."""
    breaker_threshold: int = 5
    breaker_open_seconds: float = 10.0

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter exponential backoff before retry number ``retry`` (1-based)."""
        return float(self.backoff_seconds * (2 ** (retry - 1)) * rand())


class CircuitBreaker:
    """One upstream's breaker (state in this replica: each replica learns the failures itself)."""

    def __init__(
        self,
        upstream: str,
        threshold: int = 5,
        open_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.threshold = threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        CIRCUIT_STATE.labels(upstream).set(State.CLOSED.value)

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return State.CLOSED
        if self._clock() - self._opened_at < self.open_seconds:
            return State.OPEN
        return State.HALF_OPEN

    def retry_after(self) -> int:
        """Whole seconds until a probe may go through (at least 1)."""
        if self._opened_at is None:
            return 1
        remaining = self.open_seconds - (self._clock() - self._opened_at)
        return max(1, math.ceil(remaining))

    def allow(self) -> bool:
        """May a request go to the upstream now? In half-open, only one (the probe) may."""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.OPEN or self._probing:
            return False
        self._probing = True
        CIRCUIT_STATE.labels(self.upstream).set(State.HALF_OPEN.value)
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._opened_at is not None:
            self._opened_at = None
            CIRCUIT_STATE.labels(self.upstream).set(State.CLOSED.value)

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.threshold):
            self._opened_at = self._clock()
            CIRCUIT_OPENED.labels(self.upstream).inc()
            CIRCUIT_STATE.labels(self.upstream).set(State.OPEN.value)
        self._probing = False

    def abandon(self) -> None:
        """The call ended without a verdict (the caller went away): free the probe slot."""
        self._probing = False
