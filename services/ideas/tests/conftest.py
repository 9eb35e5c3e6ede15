"""Fixtures of the ideas tests: one migrated database, the real app (relay + chronicle consumer
running against Kafka) and a token per persona.

The database is created fresh and migrated with the real Alembic migrations. When the session
ends, every outbox row written by the tests is checked against its JSON Schema.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kommune.auth.dev_issuer import DevIssuer
from kommune.db import create_engine
from kommune.migrations import upgrade
from kommune.testing.auth import issuer_settings_overrides, lifespan_client
from kommune.testing.contracts import check_outbox
from kommune.testing.infra import CreateDatabase, unique_group
from kommune_ideas.main import create_app
from kommune_ideas.settings import IdeasSettings

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


# ---- personas --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    sub: str
    roles: tuple[str, ...]
    name: str
    headers: dict[str, str]


class Personas:
    """Everyone who appears in the tests, with a valid token each."""

    def __init__(self, issuer: DevIssuer) -> None:
        self._issuer = issuer
        suffix = uuid.uuid4().hex[:6]
        self.change_agent = self.make(f"ca-anna-{suffix}", ["change_agent"], "Anna Schmid")
        self.other_change_agent = self.make(f"ca-ben-{suffix}", ["change_agent"], "Ben Wolf")
        self.staff = self.make(f"st-julia-{suffix}", ["staff"], "Julia Koch")
        self.caseworker = self.make(f"cw-tom-{suffix}", ["caseworker"], "Tom Berger")
        self.project_lead = self.make(f"pl-markus-{suffix}", ["project_lead"], "Markus Weber")
        self.admin = self.make(f"adm-eva-{suffix}", ["admin"], "Eva Braun")
        self.citizen = self.make(f"cit-max-{suffix}", ["citizen"], "Max Muster")

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


# ---- database, app, client -------------------------------------------------------------------


@dataclass
class Db:
    url: str
    engine: AsyncEngine

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row) for row in result.mappings()]

    async def snapshot(self, idea_id: str | uuid.UUID | None = None) -> dict[str, Any]:
        """Row counts that a refused request must leave as they are."""
        tables = [
            "ideas",
            "idea_history",
            "comments",
            "endorsements",
            "follows",
            "meetings",
            "agenda_items",
            "faq_entries",
            "departments",
        ]
        counts: dict[str, Any] = {
            t: int(await self.scalar(f"SELECT count(*) FROM {t}")) for t in tables
        }
        counts["news"] = int(
            await self.scalar("SELECT count(*) FROM chronicle_entries WHERE kind = 'news'")
        )
        counts["chronicle_comments"] = int(
            await self.scalar("SELECT count(*) FROM chronicle_comments")
        )
        # Automatic chronicle entries (and their events) are written in the background by the
        # consumer, so the outbox is compared for the service's own request-driven aggregates.
        counts["outbox_requests"] = int(
            await self.scalar(
                "SELECT count(*) FROM outbox WHERE aggregatetype <> 'chronicle_entry'"
            )
        )
        if idea_id is not None:
            counts["idea_outbox"] = int(
                await self.scalar(
                    "SELECT count(*) FROM outbox WHERE aggregateid = :id", id=str(idea_id)
                )
            )
            counts["idea_row"] = await self.rows(
                "SELECT status, answer, updated_at, endorsement_count, title, tags"
                " FROM ideas WHERE id = :id",
                id=uuid.UUID(str(idea_id)),
            )
        return counts


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(create_database: CreateDatabase) -> AsyncIterator[Db]:
    url = await create_database("ideas")
    await upgrade(ALEMBIC_INI, url)
    engine = create_engine(url, pool_size=2, application_name="ideas-tests")
    try:
        yield Db(url, engine)
    finally:
        await engine.dispose()
    # Every event the tests made the service write keeps its contract.
    await check_outbox(url)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(db: Db, kafka_bootstrap_servers: str, kafka_topic_prefix: str) -> IdeasSettings:
    values: dict[str, Any] = {
        "KOMMUNE_ENVIRONMENT": "test",
        "KOMMUNE_LOG_JSON": True,
        "KOMMUNE_LOG_LEVEL": "WARNING",
        # This session's topic namespace: the service's topics (``<prefix>ideas.idea.v1``, also
        # the egov announcements it consumes) and groups are nobody else's, and start empty.
        "KOMMUNE_KAFKA_TOPIC_PREFIX": kafka_topic_prefix,
        "database_url": db.url,
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "consumer_group_prefix": unique_group("ideas-test"),
        **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
    }
    return IdeasSettings.model_validate(values)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(
    settings: IdeasSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its whole lifespan: engine, verifier, topics, relay, chronicle consumer."""
    app = create_app(settings, http_transport=issuer_transport)
    async with lifespan_client(app) as client:
        yield client


# ---- data helpers ----------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def department(client: httpx.AsyncClient, people: Personas) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/departments",
        json={
            "code": f"kaemmerei-{uuid.uuid4().hex[:6]}",
            "name": f"Kämmerei {uuid.uuid4().hex[:6]}",
        },
        headers=people.admin.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def idea_body(department_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Rechnungen digital freigeben",
        "problem_statement": "Papierrechnungen wandern durch drei Büros, bis sie bezahlt werden.",
        "proposed_solution": "Rechnungen werden gescannt und im DMS elektronisch freigegeben.",
        "added_value": "Schnellere Zahlung, Skonto, weniger Laufwege.",
        "description": "Erster Schritt: die Kämmerei testet den Ablauf mit einem Lieferanten.",
        "department_id": department_id,
        "tags": ["E-Rechnung", "Kämmerei"],
    }
    body.update(overrides)
    return body


class Api:
    """Short-hands for the calls most tests need."""

    def __init__(self, client: httpx.AsyncClient, people: Personas, department: dict[str, Any]):
        self.client = client
        self.people = people
        self.department = department

    async def create_idea(self, author: Persona | None = None, **overrides: Any) -> dict[str, Any]:
        author = author or self.people.change_agent
        response = await self.client.post(
            "/api/v1/ideas",
            json=idea_body(self.department["id"], **overrides),
            headers=author.headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def move(
        self,
        idea_id: str,
        status: str,
        actor: Persona,
        *,
        note: str = "Antwort",
        reason: str | None = None,
        expect: int = 200,
    ) -> httpx.Response:
        payload: dict[str, Any] = {"status": status, "note": note}
        if reason is not None:
            payload["reason"] = reason
        response = await self.client.post(
            f"/api/v1/ideas/{idea_id}/status", json=payload, headers=actor.headers
        )
        assert response.status_code == expect, response.text
        return response


@pytest.fixture
def api(client: httpx.AsyncClient, people: Personas, department: dict[str, Any]) -> Api:
    return Api(client, people, department)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
