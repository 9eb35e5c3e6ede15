"""Daily partitions: created ahead and on demand, dropped after the retention with their counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest_asyncio

from kommune.db import asyncpg_dsn
from kommune.testing.service import Db
from kommune_sensors.ingestion.partitions import existing_partitions, maintain, partition_name
from kommune_sensors.ingestion.writer import Row, store

from .conftest import Api


@pytest_asyncio.fixture(loop_scope="session")
async def conn(db: Db) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(db.url), server_settings={"timezone": "UTC"})
    try:
        yield connection
    finally:
        await connection.close()


async def test_partitions_are_created_ahead(conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    await maintain(conn, now, ahead_days=5, retention_days=30)
    days = await existing_partitions(conn)
    today = now.date()
    assert {today + timedelta(days=n) for n in range(-1, 6)} <= days


async def test_expired_partitions_are_dropped_and_counts_follow(
    api: Api, conn: asyncpg.Connection, db: Db
) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"])
    now = datetime.now(UTC)
    old_day = now - timedelta(days=45)
    recent = now - timedelta(hours=3)
    rows: list[Row] = [(stream["id"], old_day + timedelta(minutes=i), 1.0, None) for i in range(5)]
    rows += [(stream["id"], recent + timedelta(minutes=i), 2.0, '{"lane":"1"}') for i in range(3)]
    assert (await store(conn, rows, set())).count == 8
    assert (await store(conn, rows, set())).count == 0  # stored once
    assert old_day.date() in await existing_partitions(conn)  # created on demand (a backfill)

    _, dropped = await maintain(conn, now, ahead_days=1, retention_days=30)
    assert old_day.date() in dropped
    assert old_day.date() not in await existing_partitions(conn)
    assert await conn.fetchval("SELECT to_regclass($1)", partition_name(old_day.date())) is None
    assert await api.stored(stream["id"]) == 3
    count = await db.scalar(
        "SELECT observation_count FROM datastreams WHERE id = :id", id=stream["id"]
    )
    assert count == 3
    # The roll-ups outlive the raw data.
    assert (
        await db.scalar(
            "SELECT sum(count) FROM observations_daily WHERE datastream_id = :id", id=stream["id"]
        )
        == 8
    )
