"""Fixtures of the documents tests: one migrated database with the demo file plan, the real app
(relay + filing consumer against Kafka), a content store in a temp directory, people with
departments.

When the session ends, every outbox row the tests wrote is checked against its JSON Schema.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
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

from .s3server import REGION, S3Server, moto_server

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


def settings_values(
    db: DocDb, kafka_bootstrap_servers: str, kafka_topic_prefix: str, storage_path: Path
) -> dict[str, Any]:
    return service_settings_values(
        db.url,
        kafka_bootstrap_servers,
        kafka_topic_prefix,
        consumer_group_prefix=unique_group("documents-test"),
        storage_path=str(storage_path),
        max_upload_bytes=8 * 1024 * 1024,
        egov_application_topic=unique_topic("egov-application"),
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(
    db: DocDb, kafka_bootstrap_servers: str, kafka_topic_prefix: str, storage_path: Path
) -> DocumentsSettings:
    values = settings_values(db, kafka_bootstrap_servers, kafka_topic_prefix, storage_path)
    return DocumentsSettings.model_validate(values)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server process on a free loopback port, stopped after the session."""
    with moto_server() as server:
        yield server


def s3_values(server: S3Server, **extra: Any) -> dict[str, Any]:
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": server.endpoint,
        "s3_bucket": server.bucket,
        "s3_region": REGION,
        "s3_access_key_id": server.access_key_id,
        "s3_secret_access_key": server.secret_access_key,
        "s3_addressing_style": "path",
        "s3_part_bytes": 5 * 1024 * 1024,  # S3's smallest part: uploads over 5 MiB go multipart
        **extra,
    }


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def s3_settings(
    db: DocDb,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: S3Server,
) -> DocumentsSettings:
    """The same service with the S3 backend (its own staging folder and egov topic).

    It shares the database and topics with the filesystem app, so it runs no consumers: its OCR
    consumer would get the filesystem app's scans (and that app's, its own) and find no content.
    ``test_ocr.py`` reads a scan from S3 with the consumer's reader directly.
    """
    staging = tmp_path_factory.mktemp("s3-staging")
    values = settings_values(db, kafka_bootstrap_servers, kafka_topic_prefix, staging)
    values["consumers_enabled"] = False
    return DocumentsSettings.model_validate({**values, **s3_values(s3_server)})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def s3_client(
    client: httpx.AsyncClient,  # loads the demo data
    s3_settings: DocumentsSettings,
    issuer_transport: httpx.ASGITransport,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(s3_settings, http_transport=issuer_transport)
    async with lifespan_client(app) as s3_app_client:
        yield s3_app_client


@dataclass(frozen=True)
class Backend:
    """The service with one content store backend, and a look into that store."""

    name: str
    client: httpx.AsyncClient
    settings: DocumentsSettings
    s3: S3Server | None = None

    def stored(self) -> set[str]:
        """The hashes the store holds."""
        if self.s3 is not None:
            return self.s3.keys()
        root = self.settings.storage_path
        return {p.name for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"}

    def read(self, sha256: str) -> bytes | None:
        if self.s3 is not None:
            key = f"{self.settings.s3_prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"
            try:
                return self.s3.admin.get_object(Bucket=self.s3.bucket, Key=key)["Body"].read()
            except self.s3.admin.exceptions.NoSuchKey:
                return None
        path = self.settings.storage_path / sha256[:2] / sha256[2:4] / sha256
        return path.read_bytes() if path.exists() else None

    def remove(self, sha256: str) -> None:
        """Lose content behind the service's back."""
        if self.s3 is not None:
            key = f"{self.settings.s3_prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"
            self.s3.admin.delete_object(Bucket=self.s3.bucket, Key=key)
        else:
            (self.settings.storage_path / sha256[:2] / sha256[2:4] / sha256).unlink()

    def temp_files(self) -> list[Path]:
        return list((self.settings.storage_path / "tmp").glob("*"))


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Runs a test against each content store backend."""
    if request.param == "filesystem":
        return Backend(
            "filesystem", request.getfixturevalue("client"), request.getfixturevalue("settings")
        )
    return Backend(
        "s3",
        request.getfixturevalue("s3_client"),
        request.getfixturevalue("s3_settings"),
        request.getfixturevalue("s3_server"),
    )


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


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
