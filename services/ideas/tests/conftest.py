"""Fixtures of the ideas tests: one migrated database, the real app (relay + chronicle consumer
running against Kafka) and a token per persona.

The database is created fresh and migrated with the real Alembic migrations. When the session
ends, every outbox row written by the tests is checked against its JSON Schema.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from kommune.testing.auth import lifespan_client
from kommune.testing.infra import CreateDatabase, unique_group
from kommune.testing.service import Db as ServiceDb
from kommune.testing.service import (
    Persona,
    Personas,
    assert_problem,
    migrated_db,
    service_settings_values,
)
from kommune_ideas.main import create_app
from kommune_ideas.settings import IdeasSettings

__all__ = ["ALEMBIC_INI", "Api", "Db", "Persona", "Personas", "assert_problem", "idea_body"]

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"

# ``people`` (a token per persona) comes from kommune.testing.service.


# ---- database, app, client -------------------------------------------------------------------


class Db(ServiceDb):
    async def snapshot(self, idea_id: str | uuid.UUID | None = None) -> dict[str, Any]:
        """Row counts that a refused request must leave as they are."""
        counts: dict[str, Any] = await self.counts(
            "ideas",
            "idea_history",
            "comments",
            "endorsements",
            "follows",
            "meetings",
            "agenda_items",
            "faq_entries",
            "departments",
            "chronicle_comments",
        )
        counts["news"] = int(
            await self.scalar("SELECT count(*) FROM chronicle_entries WHERE kind = 'news'")
        )
        # Automatic chronicle entries (and their events) are written in the background by the
        # consumer, so the outbox is compared for the service's own request-driven aggregates.
        counts["outbox_requests"] = int(
            await self.scalar(
                "SELECT count(*) FROM recorded.outbox WHERE aggregatetype <> 'chronicle_entry'"
            )
        )
        if idea_id is not None:
            counts["idea_outbox"] = int(
                await self.scalar(
                    "SELECT count(*) FROM recorded.outbox WHERE aggregateid = :id", id=str(idea_id)
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
    async with migrated_db(create_database, "ideas", ALEMBIC_INI, Db) as database:
        assert isinstance(database, Db)
        yield database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(db: Db, kafka_bootstrap_servers: str, kafka_topic_prefix: str) -> IdeasSettings:
    values = service_settings_values(
        db.url,
        kafka_bootstrap_servers,
        kafka_topic_prefix,
        consumer_group_prefix=unique_group("ideas-test"),
    )
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
