"""The migrations build exactly what the models describe (with pg_trgm and the audit trigger),
and can be rolled back; the demo plan loads twice without doubling."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kommune.db import create_engine
from kommune.demo import load_demo_data
from kommune.migrations import downgrade, upgrade
from kommune.testing.infra import CreateDatabase
from kommune_documents import demo
from kommune_documents.models import metadata
from kommune_documents.settings import DocumentsSettings

from .conftest import ALEMBIC_INI


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_models_and_rolls_back(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("documents_migrations")
    await upgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            extensions = (
                (await connection.execute(text("SELECT extname FROM pg_extension"))).scalars().all()
            )
            assert "pg_trgm" in extensions
            triggers = (
                (
                    await connection.execute(
                        text(
                            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass"
                            " AND NOT tgisinternal ORDER BY tgname"
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert triggers == ["audit_events_append_only", "audit_events_no_truncate"]
    finally:
        await engine.dispose()

    settings = DocumentsSettings.model_validate(
        {"KOMMUNE_ENVIRONMENT": "test", "database_url": url}
    )
    first = await load_demo_data(settings, demo.load)
    second = await load_demo_data(settings, demo.load)
    assert first.created["plan_units"] == len(demo.FILE_PLAN)
    assert second.created["plan_units"] == 0
    assert second.kept["plan_units"] == len(demo.FILE_PLAN)

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
