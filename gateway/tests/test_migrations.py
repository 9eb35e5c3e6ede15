"""The gateway's migrations build exactly what models.py describes, and can be rolled back."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kommune.db import create_engine
from kommune.migrations import downgrade, upgrade
from kommune.testing.infra import CreateDatabase
from kommune_gateway.models import metadata

from .conftest import GATEWAY_ALEMBIC


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _scalars(url: str, sql: str) -> list[Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql))).scalars().all())
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(create_database: CreateDatabase) -> None:
    url = await create_database("gateway_migrations")
    await upgrade(GATEWAY_ALEMBIC, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()
    # Counters skip the WAL; idempotency records do not.
    persistence = await _scalars(
        url,
        "SELECT relname || ':' || relpersistence::text FROM pg_class "
        "WHERE relname IN ('rate_limit_counters', 'idempotency_keys') ORDER BY relname",
    )
    assert persistence == ["idempotency_keys:p", "rate_limit_counters:u"]

    await downgrade(GATEWAY_ALEMBIC, url)
    tables = await _scalars(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert set(tables) <= {"alembic_version"}
    await upgrade(GATEWAY_ALEMBIC, url)
