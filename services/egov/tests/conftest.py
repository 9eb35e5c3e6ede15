"""Fixtures of the egov tests: one migrated database, the real app (relay and consumers running
against Kafka, catalogue synced at start) and a token per persona.

The database is created fresh and migrated with the real Alembic migrations. When the session
ends, every outbox row written by the tests is checked against its JSON Schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from kommune.testing.auth import lifespan_client
from kommune.testing.infra import CreateDatabase, unique_group
from kommune.testing.service import (
    Db,
    Persona,
    Personas,
    assert_problem,
    migrated_db,
    service_settings_values,
)
from kommune_egov.main import create_app
from kommune_egov.settings import EgovSettings

__all__ = ["ALEMBIC_INI", "Db", "Persona", "Personas", "assert_problem"]

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(create_database: CreateDatabase) -> AsyncIterator[Db]:
    async with migrated_db(create_database, "egov", ALEMBIC_INI) as database:
        yield database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(db: Db, kafka_bootstrap_servers: str, kafka_topic_prefix: str) -> EgovSettings:
    values = service_settings_values(
        db.url,
        kafka_bootstrap_servers,
        kafka_topic_prefix,
        consumer_group_prefix=unique_group("egov-test"),
    )
    return EgovSettings.model_validate(values)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(
    settings: EgovSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its whole lifespan: engine, verifier, topics, relay, consumers."""
    async with lifespan_client(create_app(settings, http_transport=issuer_transport)) as client:
        yield client
