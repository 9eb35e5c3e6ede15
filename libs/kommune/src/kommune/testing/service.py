"""What every service's test suite needs: personas with tokens, its database, settings, a client.

Registered for the whole repository by the root ``conftest.py`` (the ``people`` fixture); the rest
are helpers a service's ``tests/conftest.py`` builds its few fixtures from, keeping the fixture
names every suite uses (``people``, ``db``, ``settings``, ``client``)::

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def db(create_database: CreateDatabase) -> AsyncIterator[Db]:
        async with migrated_db(create_database, "egov", ALEMBIC_INI) as database:
            yield database

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def settings(db, kafka_bootstrap_servers, kafka_topic_prefix) -> EgovSettings:
        return EgovSettings.model_validate(
            service_settings_values(db.url, kafka_bootstrap_servers, kafka_topic_prefix)
        )

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def client(settings, issuer_transport) -> AsyncIterator[httpx.AsyncClient]:
        async with lifespan_client(create_app(settings, http_transport=issuer_transport)) as c:
            yield c

When the suite ends, :func:`migrated_db` checks every outbox row the tests made the service write
against its event contract.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.auth.dev_issuer import DevIssuer
from kommune.db import create_engine
from kommune.migrations import upgrade
from kommune.testing.auth import issuer_settings_overrides
from kommune.testing.contracts import check_outbox, record_outbox
from kommune.testing.infra import CreateDatabase, unique_group

# ---- personas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    sub: str
    roles: tuple[str, ...]
    name: str
    headers: dict[str, str]


class Personas:
    """Somebody for every platform role, each with a valid token (``people.caseworker.headers``).

    ``nobody`` holds no role at all; ``other_change_agent`` is a second person with the same role
    as ``change_agent`` (for "only your own ..." rules). Subject ids are unique per session.
    """

    def __init__(self, issuer: DevIssuer) -> None:
        self._issuer = issuer
        suffix = uuid.uuid4().hex[:6]
        self.change_agent = self.make(f"ca-anna-{suffix}", ["change_agent"], "Anna Schmid")
        self.other_change_agent = self.make(f"ca-ben-{suffix}", ["change_agent"], "Ben Wolf")
        self.staff = self.make(f"st-julia-{suffix}", ["staff"], "Julia Koch")
        self.caseworker = self.make(f"cw-tom-{suffix}", ["caseworker"], "Tom Berger")
        self.records_manager = self.make(f"rm-ute-{suffix}", ["records_manager"], "Ute Lang")
        self.operator = self.make(f"op-kai-{suffix}", ["operator"], "Kai Brandt")
        self.project_lead = self.make(f"pl-markus-{suffix}", ["project_lead"], "Markus Weber")
        self.admin = self.make(f"adm-eva-{suffix}", ["admin"], "Eva Braun")
        self.citizen = self.make(f"cit-max-{suffix}", ["citizen"], "Max Muster")
        self.invoice_inbox = self.make(
            f"svc-einvoice-{suffix}", ["invoice_inbox"], "E-Rechnungseingang"
        )
        self.nobody = self.make(f"none-ida-{suffix}", [], "Ida Niemand")

    def make(self, sub: str, roles: Iterable[str], name: str) -> Persona:
        roles = tuple(roles)
        token = self._issuer.issue(sub, roles, name)
        return Persona(sub, roles, name, {"Authorization": f"Bearer {token}"})

    def by_name(self, name: str) -> Persona:
        persona: Persona = getattr(self, name)
        return persona


@pytest.fixture(scope="session")
def people(dev_issuer: DevIssuer) -> Personas:
    return Personas(dev_issuer)


# ---- the service's database --------------------------------------------------------------------


@dataclass
class Db:
    """A service's test database: its URL and an engine for looking at what the service did."""

    url: str
    engine: AsyncEngine

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row) for row in result.mappings()]

    async def counts(self, *tables: str) -> dict[str, int]:
        """Row counts per table: what a refused request must leave as it is."""
        return {t: int(await self.scalar(f"SELECT count(*) FROM {t}")) for t in tables}  # noqa: S608


@asynccontextmanager
async def migrated_db(
    create_database: CreateDatabase, name: str, alembic_ini: Path, db_type: type[Db] = Db
) -> AsyncIterator[Db]:
    """A fresh database migrated with the service's real migrations; on exit, every outbox row
    the tests made the service write is checked against its JSON Schema.

    The relay deletes rows once sent: ask ``recorded.outbox`` (:func:`record_outbox`) what a
    request wrote, and ``outbox`` what is still unsent."""
    url = await create_database(name)
    await upgrade(alembic_ini, url)
    await record_outbox(url)
    engine = create_engine(url, pool_size=2, application_name=f"{name}-tests")
    try:
        yield db_type(url, engine)
    finally:
        await engine.dispose()
    await check_outbox(url)


def service_settings_values(
    database_url: str, kafka_bootstrap_servers: str, kafka_topic_prefix: str, **extra: Any
) -> dict[str, Any]:
    """Settings values of a service under test: test environment, this session's database,
    broker and topic namespace, consumer groups of its own, the in-process dev issuer."""
    return {
        "KOMMUNE_ENVIRONMENT": "test",
        "KOMMUNE_LOG_JSON": True,
        "KOMMUNE_LOG_LEVEL": "WARNING",
        # This session's topic namespace: the service's topics and groups are nobody else's.
        "KOMMUNE_KAFKA_TOPIC_PREFIX": kafka_topic_prefix,
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "consumer_group_prefix": unique_group("test"),
        **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
        **extra,
    }


# ---- responses ---------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
