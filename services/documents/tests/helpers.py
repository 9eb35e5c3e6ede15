"""Waiting on real conditions (with a deadline), shared by the tests."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_for(predicate: Any, *, within: float = 45.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` (async, truthy when done) until it holds, or fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)
