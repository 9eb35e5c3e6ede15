"""Fixtures of the documents tests: one migrated database with the demo file plan, the real app
(relay + filing consumer against Kafka), a content store in a temp directory, people with
departments.

When the session ends, every outbox row the tests wrote is checked against its JSON Schema.
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
from kommune.testing.infra import CreateDatabase, unique_group, unique_topic
from kommune.testing.service import Db, Persona, Personas, migrated_db, service_settings_values
from kommune_documents.demo import load
from kommune_documents.main import create_app
from kommune_documents.settings import DocumentsSettings

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


class DocDb(Db):
    async def snapshot(self) -> dict[str, int]:
        return await self.counts(
            "plan_units",
            "case_files",
            "file_readers",
            "processes",
            "documents",
            "document_versions",
            "blobs",
            "recorded.outbox",
        )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(create_database: CreateDatabase) -> AsyncIterator[DocDb]:
    async with migrated_db(create_database, "documents", ALEMBIC_INI, DocDb) as database:
        assert isinstance(database, DocDb)
        yield database


@pytest.fixture(scope="session")
def storage_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("content")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(
    db: DocDb, kafka_bootstrap_servers: str, kafka_topic_prefix: str, storage_path: Path
) -> DocumentsSettings:
    values = service_settings_values(
        db.url,
        kafka_bootstrap_servers,
        kafka_topic_prefix,
        consumer_group_prefix=unique_group("documents-test"),
        storage_path=str(storage_path),
        max_upload_bytes=8 * 1024 * 1024,
        egov_application_topic=unique_topic("egov-application"),
    )
    return DocumentsSettings.model_validate(values)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(
    settings: DocumentsSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    from kommune.demo import load_demo_data

    await load_demo_data(settings, load)
    app = create_app(settings, http_transport=issuer_transport)
    async with lifespan_client(app) as client:
        yield client


class Staff:
    """People with departments (the token's ``department`` claim)."""

    def __init__(self, people: Personas, dev_issuer: Any) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.people = people
        self.issuer = dev_issuer
        self.bau = self.make(f"cw-bau-{suffix}", ["caseworker"], "bauamt")
        self.bau2 = self.make(f"cw-bau2-{suffix}", ["caseworker"], "bauamt")
        self.kasse = self.make(f"cw-kasse-{suffix}", ["caseworker"], "kaemmerei")
        self.staff_bau = self.make(f"st-bau-{suffix}", ["staff"], "bauamt")
        self.records = self.make(f"rm-{suffix}", ["records_manager"], None)

    def make(self, sub: str, roles: list[str], department: str | None) -> Persona:
        token = self.issuer.issue(sub, roles, sub, department)
        return Persona(sub, tuple(roles), sub, {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="session")
def staff(people: Personas, dev_issuer: Any) -> Staff:
    return Staff(people, dev_issuer)


async def plan_unit_id(client: httpx.AsyncClient, people: Personas, code: str) -> str:
    response = await client.get("/api/v1/fileplan?limit=100", headers=people.staff.headers)
    assert response.status_code == 200, response.text
    [unit] = [u for u in response.json()["items"] if u["code"] == code]
    return str(unit["id"])


async def open_file(
    client: httpx.AsyncClient,
    people: Personas,
    owner: Persona,
    *,
    code: str = "6.2",
    **extra: Any,
) -> dict[str, Any]:
    body = {"plan_unit_id": await plan_unit_id(client, people, code), "title": "Bauantrag"}
    body.update(extra)
    response = await client.post("/api/v1/files", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def upload(
    client: httpx.AsyncClient,
    who: Persona,
    file_id: str,
    content: bytes,
    *,
    filename: str = "a.txt",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        "/api/v1/documents",
        data={"file_id": file_id, **fields},
        files={"content": (filename, content, "application/octet-stream")},
        headers=who.headers,
    )
