"""The test helpers that wait and that look for abandoned tasks can fail, and fail for the right
reason only."""

from __future__ import annotations

import asyncio

import pytest

from kommune.testing.conditions import no_tasks_left_behind, wait_until


async def test_wait_until_returns_the_truthy_value_or_times_out() -> None:
    calls = []

    async def third_time() -> str | None:
        calls.append(1)
        return "ready" if len(calls) >= 3 else None

    assert await wait_until(third_time, interval=0) == "ready"

    async def never() -> bool:
        return False

    with pytest.raises(TimeoutError, match="the impossible not reached"):
        await wait_until(never, deadline=0.05, interval=0.01, what="the impossible")


async def test_a_task_started_in_the_block_and_left_running_fails_it() -> None:
    release = asyncio.Event()

    async def child() -> None:
        await release.wait()

    async def starter() -> None:
        asyncio.create_task(child())  # noqa: RUF006 (the leak under test)

    with pytest.raises(AssertionError), no_tasks_left_behind():
        await asyncio.create_task(starter())  # a grandchild counts too
    release.set()
    await asyncio.sleep(0)


async def test_tasks_of_work_started_before_the_block_do_not_count() -> None:
    spawn, did_spawn, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    spawned: list[asyncio.Task[bool]] = []

    async def background() -> None:  # like a session fixture's consumer
        await spawn.wait()
        spawned.append(asyncio.create_task(release.wait()))
        did_spawn.set()

    runner = asyncio.create_task(background())
    with no_tasks_left_behind():
        spawn.set()
        await did_spawn.wait()
    assert not spawned[0].done()  # still running, started during the block, not by it
    release.set()
    await asyncio.gather(runner, *spawned)
