"""The engine's pool replaces connections the server closed, without a ping per checkout."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from kommune.db import asyncpg_dsn, create_engine
from kommune.testing.infra import CreateDatabase


async def test_connections_killed_by_the_server_are_replaced(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("kommune_db")
    application = f"pool-test-{uuid.uuid4().hex[:8]}"
    engine = create_engine(url, pool_size=3, application_name=application)
    try:
        # Fill the pool with three connections that go back to it idle.
        all_checked_out = asyncio.Barrier(3)

        drivers: list[Any] = []

        async def hold() -> int:
            async with engine.connect() as connection:
                pid = int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                drivers.append((await connection.get_raw_connection()).driver_connection)
                await all_checked_out.wait()  # three at once: three connections
                return pid

        pids = set(await asyncio.gather(hold(), hold(), hold()))
        assert len(pids) == 3

        admin = await asyncpg.connect(asyncpg_dsn(url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                application,
            )
        finally:
            await admin.close()
        assert killed == 3
        await _wait_until_closed(drivers)  # the client has read the server's goodbye

        # Every checkout now gets a working connection: no error reaches the caller.
        for _ in range(5):
            async with engine.connect() as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                assert pid not in pids
    finally:
        await engine.dispose()


async def _wait_until_closed(drivers: list[Any], deadline: float = 10.0) -> None:
    """Until asyncpg has seen the sockets of the pooled connections close."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while not all(driver.is_closed() for driver in drivers):
        if loop.time() > until:
            raise TimeoutError("the pooled connections still look open")
        await asyncio.sleep(0.01)
