"""Fixtures of the egov tests: one migrated database, the real app (relay and consumers running
against Kafka, catalogue synced at start) and a token per persona.

The database is created fresh and migrated with the real Alembic migrations. When the session
ends, every outbox row written by the tests is checked against its JSON Schema.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from kommune.auth.dev_issuer import DevIssuer
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
from kommune_egov.examples import dog_registration
from kommune_egov.main import create_app
from kommune_egov.settings import EgovSettings

__all__ = [
    "ALEMBIC_INI",
    "Api",
    "Cast",
    "Db",
    "Persona",
    "Personas",
    "assert_problem",
    "dog_data",
    "snapshot",
]

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
        # The webhook tests run dispatchers of their own (two "processes" sharing the queue).
        webhook_dispatch_enabled=False,
    )
    return EgovSettings.model_validate(values)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(
    settings: EgovSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its whole lifespan: engine, verifier, topics, relay, consumers."""
    async with lifespan_client(create_app(settings, http_transport=issuer_transport)) as client:
        yield client


# ---- people of the egov tests ------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """Citizens and caseworkers with departments (``people`` has caseworkers without one)."""

    citizen: Persona
    other_citizen: Persona
    buergeramt: Persona
    """A caseworker of the Bürgeramt (dog registrations, landlord certificates)."""
    bauhof: Persona
    """A caseworker of the Bauhof (illegal dumping, graffiti, bins, playgrounds)."""
    ordnungsamt: Persona
    no_department: Persona
    """A caseworker whose token names no department: sees no queue."""


def _persona(issuer: DevIssuer, sub: str, roles: list[str], name: str, dept: str | None) -> Persona:
    token = issuer.issue(sub, roles, name, dept)
    return Persona(sub, tuple(roles), name, {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="session")
def cast(dev_issuer: DevIssuer) -> Cast:
    suffix = uuid.uuid4().hex[:6]
    return Cast(
        citizen=_persona(dev_issuer, f"cit-lena-{suffix}", ["citizen"], "Lena Hofmann", None),
        other_citizen=_persona(dev_issuer, f"cit-paul-{suffix}", ["citizen"], "Paul Riedel", None),
        buergeramt=_persona(
            dev_issuer, f"cw-sara-{suffix}", ["caseworker"], "Sara Keller", "buergeramt"
        ),
        bauhof=_persona(dev_issuer, f"cw-jonas-{suffix}", ["caseworker"], "Jonas Maier", "bauhof"),
        ordnungsamt=_persona(
            dev_issuer, f"cw-ines-{suffix}", ["caseworker"], "Ines Wagner", "ordnungsamt"
        ),
        no_department=_persona(dev_issuer, f"cw-nobody-{suffix}", ["caseworker"], "Ohne Amt", None),
    )


# ---- data --------------------------------------------------------------------------------------


def dog_data(**overrides: Any) -> dict[str, Any]:
    return dog_registration(**overrides)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


class Api:
    """Short-hands for the calls most tests need."""

    def __init__(self, client: httpx.AsyncClient, cast: Cast) -> None:
        self.client = client
        self.cast = cast

    async def submit(
        self,
        service_code: str = "dog_registration",
        data: dict[str, Any] | None = None,
        *,
        by: Persona | None = None,
        key: str | None = None,
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        headers = dict((by or self.cast.citizen).headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        body = {"service_code": service_code, "data": data or dog_data(), **extra}
        response = await self.client.post("/api/v1/applications", json=body, headers=headers)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    async def move(
        self,
        application_id: str,
        status: str,
        by: Persona,
        *,
        note: str | None = None,
        expect: int = 200,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status, **extra}
        if note is not None:
            body["note"] = note
        response = await self.client.post(
            f"/api/v1/applications/{application_id}/transitions", json=body, headers=by.headers
        )
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    async def upload(
        self, content: bytes, by: Persona, filename: str = "nachweis.pdf", expect: int = 201
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/attachments",
            files={"file": (filename, content, "application/octet-stream")},
            headers=by.headers,
        )
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    async def mailbox(self, by: Persona, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/mailbox", params=params, headers=by.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def api(client: httpx.AsyncClient, cast: Cast) -> Api:
    return Api(client, cast)


SNAPSHOT_TABLES = (
    "applications",
    "application_history",
    "mailbox_messages",
    "idempotency_keys",
    "attachments",
    "recorded.outbox",
)


async def snapshot(db: Db) -> dict[str, int]:
    """Row counts a refused request must leave as they are."""
    return await db.counts(*SNAPSHOT_TABLES)
