"""Waiting for a real condition, never for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, deadline: float = 20.0, interval: float = 0.05
) -> None:
    """Poll ``condition`` until it holds, failing after ``deadline`` seconds."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while not await condition():
        if loop.time() > until:
            raise TimeoutError(f"condition not reached within {deadline}s")
        await asyncio.sleep(interval)
