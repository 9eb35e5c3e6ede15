"""The migrations build exactly what the models describe, and can be rolled back."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kommune.db import create_engine
from kommune.migrations import downgrade, upgrade
from kommune.testing.infra import CreateDatabase
from kommune_sensors.models import metadata

from .conftest import ALEMBIC_INI


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_models(create_database: CreateDatabase) -> None:
    url = await create_database("sensors_migrations")
    await upgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            strategy = await connection.scalar(
                text(
                    "SELECT partstrat::text FROM pg_partitioned_table pt "
                    "JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = 'observations'"
                )
            )
            assert strategy == "r"  # range-partitioned
    finally:
        await engine.dispose()

    await downgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
            assert set(tables) <= {"alembic_version"}
            sequences = (
                await connection.execute(text("SELECT relname FROM pg_class WHERE relkind = 'S'"))
            ).scalars()
            assert "observation_ids" not in set(sequences)
    finally:
        await engine.dispose()
    await upgrade(ALEMBIC_INI, url)  # and forward again
