"""Waiting for a real condition (never for a fixed time); nothing left running after a stop."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    deadline: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``condition`` until it returns something truthy and return that, failing after
    ``deadline`` seconds (``what`` names the condition in the error)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while not (result := await condition()):
        if loop.time() > until:
            raise TimeoutError(f"{what} not reached within {deadline}s")
        await asyncio.sleep(interval)
    return result


_STARTED_IN = contextvars.ContextVar[object]("kommune_started_in")


@contextmanager
def no_tasks_left_behind() -> Iterator[None]:
    """Fail if a task started in the block, by its code or by a task that code started, still
    runs at the block's end (a ``stop()`` that abandons work).

    Only those tasks count: the test session's loop also runs other work (the consumers of a
    service app from an earlier test start fetch tasks at any moment), so "every task that is
    new at the end" would be a race. A context variable set for the block marks its tasks:
    tasks inherit their creator's context, the others never see it.
    """
    loop = asyncio.get_running_loop()
    block = object()
    token = _STARTED_IN.set(block)
    previous = loop.get_task_factory()
    started: list[asyncio.Future[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = (
            previous(loop, coro, **kwargs) if previous else asyncio.Task(coro, loop=loop, **kwargs)
        )
        context = kwargs.get("context") or contextvars.copy_context()
        if context.get(_STARTED_IN, None) is block:
            started.append(task)
        return task

    loop.set_task_factory(factory)
    try:
        yield
    finally:
        loop.set_task_factory(previous)
        _STARTED_IN.reset(token)
    left = [task for task in started if not task.done()]
    assert left == [], left
