"""The per-caller limit as a plain object (through the gateway: test_edge_limits.py)."""

from __future__ import annotations

import pytest
from starlette.exceptions import HTTPException

from kommune_gateway.proxy import CallerLimiter


def test_a_caller_gets_429_beyond_the_limit_and_others_are_unaffected() -> None:
    limiter = CallerLimiter(2)
    first = limiter.acquire("sub:a")
    limiter.acquire("sub:a")
    with pytest.raises(HTTPException) as refused:
        limiter.acquire("sub:a")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "1"}
    limiter.acquire("sub:b")
    first()
    limiter.acquire("sub:a")
    assert limiter.in_flight("sub:a") == 2


def test_releasing_twice_frees_one_slot_only() -> None:
    limiter = CallerLimiter(2)
    release = limiter.acquire("sub:a")
    limiter.acquire("sub:a")
    release()
    release()
    assert limiter.in_flight("sub:a") == 1


def test_idle_callers_leave_no_entry_behind() -> None:
    limiter = CallerLimiter(1)
    for caller in ("sub:a", "sub:b", "ip:10.0.0.1"):
        limiter.acquire(caller)()
    assert len(limiter) == 0
