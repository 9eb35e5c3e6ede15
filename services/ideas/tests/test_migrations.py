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
from kommune_ideas.models import metadata

from .conftest import ALEMBIC_INI


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_models(create_database: CreateDatabase) -> None:
    url = await create_database("ideas_migrations")
    await upgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            extensions = (
                (await connection.execute(text("SELECT extname FROM pg_extension"))).scalars().all()
            )
            assert "pg_trgm" in extensions
            options: dict[str, str | None] = dict(
                (
                    await connection.execute(
                        text(
                            "SELECT relname, reloptions::text FROM pg_class "
                            "WHERE relname LIKE 'ix_ideas_search_%'"
                        )
                    )
                ).all()
            )
            assert options == {
                "ix_ideas_search_vector": "{fastupdate=off}",
                "ix_ideas_search_text_trgm": "{fastupdate=off}",
            }
    finally:
        await engine.dispose()

    await downgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            tables = (
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                )
                .scalars()
                .all()
            )
            assert set(tables) <= {"alembic_version"}
    finally:
        await engine.dispose()
    await upgrade(ALEMBIC_INI, url)  # and forward again
