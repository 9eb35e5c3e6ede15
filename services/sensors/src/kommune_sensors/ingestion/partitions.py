"""Daily partitions of ``observations``: created ahead, dropped after the retention period.

Partition names are built from dates only (``observations_p20261129``), never from input. A
partition is created by the writer for any day a batch needs that does not exist yet (a
backfill), and by :func:`maintain` for the next days ahead of time. Dropping a partition first
subtracts its rows from each datastream's ``observation_count`` in the same transaction, so the
stored count stays exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import asyncpg  # type: ignore[import-untyped]
import structlog

log = structlog.get_logger(__name__)

PARENT = "observations"
_NAME = re.compile(r"observations_p(\d{8})")
MAINTENANCE_LOCK = 7_104_001
"""Advisory lock key: one maintenance run at a time across the writers."""


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    match = _NAME.fullmatch(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def _bound(day: date) -> str:
    return datetime.combine(day, time(0), tzinfo=UTC).isoformat()


async def existing_partitions(conn: asyncpg.Connection) -> set[date]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1",
        PARENT,
    )
    return {day for row in rows if (day := day_of(row["relname"])) is not None}


async def create_partitions(conn: asyncpg.Connection, days: Iterable[date]) -> list[date]:
    """Create the partitions of ``days`` that are missing; returns the ones it created."""
    created = []
    for day in sorted(set(days) - await existing_partitions(conn)):
        statement = (
            f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF {PARENT} '
            f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')"
        )
        try:
            await conn.execute(statement)
        except (asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
            continue  # another writer created it a moment ago
        created.append(day)
        log.info("observation_partition_created", partition=partition_name(day))
    return created


async def drop_expired(conn: asyncpg.Connection, today: date, retention_days: int) -> list[date]:
    """Drop the partitions that lie wholly before ``today - retention_days``."""
    cutoff = today - timedelta(days=retention_days)
    dropped = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MAINTENANCE_LOCK)
        for day in sorted(await existing_partitions(conn)):
            if day + timedelta(days=1) > cutoff:
                continue
            name = partition_name(day)
            await conn.execute(
                "UPDATE datastreams d SET observation_count = d.observation_count - gone.n "  # noqa: S608
                f'FROM (SELECT datastream_id, count(*) AS n FROM "{name}" GROUP BY 1) gone '
                "WHERE d.id = gone.datastream_id"
            )
            await conn.execute(f'DROP TABLE "{name}"')
            dropped.append(day)
            log.info("observation_partition_dropped", partition=name)
    return dropped


async def maintain(
    conn: asyncpg.Connection, now: datetime, *, ahead_days: int, retention_days: int
) -> tuple[list[date], list[date]]:
    """Partitions from yesterday to ``ahead_days`` ahead exist; expired ones are gone."""
    today = now.astimezone(UTC).date()
    created = await create_partitions(
        conn, (today + timedelta(days=n) for n in range(-1, ahead_days + 1))
    )
    return created, await drop_expired(conn, today, retention_days)
