"""The last resort: a database error inside a handler rolls back and answers a 500 problem.

A real service (``create_service_app``) against the real PostgreSQL: the handler writes a row,
then a statement fails in the database. Nothing may be stored, the client gets problem JSON
with the request id and no SQL, and the log line carries the request id and the error.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from kommune.app import create_service_app
from kommune.auth.principal import CurrentPrincipal
from kommune.db import DbSession, create_engine
from kommune.settings import ServiceSettings
from kommune.testing.auth import (
    TEST_APP_AUDIENCE,
    HeadersFactory,
    issuer_settings_overrides,
    lifespan_client,
)

router = APIRouter(prefix="/api/v1/notes", tags=["notes"])
SECRET_SQL = "INSERT INTO notes_secret_table"


@router.post("", status_code=201)
async def create_note(principal: CurrentPrincipal, session: DbSession) -> dict[str, str]:
    await session.execute(text("INSERT INTO notes (body) VALUES ('written before the error')"))
    # A statement the database refuses (division by zero): a DBAPIError from deep inside.
    await session.execute(text(f"{SECRET_SQL} SELECT 1 / (SELECT count(*) - count(*) FROM notes)"))
    return {"by": principal.sub}


@router.get("")
async def count_notes(principal: CurrentPrincipal, session: DbSession) -> dict[str, int]:
    return {"count": int((await session.execute(text("SELECT count(*) FROM notes"))).scalar_one())}


@router.get("/count")
async def count_all(principal: CurrentPrincipal, session: DbSession) -> dict[str, int]:
    return await count_notes(principal, session)


@router.patch("/{note_id}")
async def update_note(note_id: int, principal: CurrentPrincipal) -> dict[str, int]:
    return {"id": note_id}


@router.post("/nul", status_code=201)
async def create_note_with_nul(principal: CurrentPrincipal, session: DbSession) -> None:
    await session.execute(text("INSERT INTO notes (body) VALUES ('first')"))
    await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": "a\x00b"})


@pytest.fixture(scope="module")
async def notes_database(create_database: Any) -> str:
    url: str = await create_database("errors_test")
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
        await connection.execute(text("CREATE TABLE notes_secret_table (n int)"))
    await engine.dispose()
    return url


async def _count(url: str) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one())
    finally:
        await engine.dispose()


@pytest.fixture
async def client(
    notes_database: str, kafka_bootstrap_servers: str, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "errors-test",
            "oidc_audience": TEST_APP_AUDIENCE,
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_JSON": True,
            "database_url": notes_database,
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "relay_enabled": False,
            "consumers_enabled": False,
            **{f"KOMMUNE_{k.upper()}": v for k, v in issuer_settings_overrides().items()},
        }
    )
    app = create_service_app(
        settings, title="Errors", routers=[router], http_transport=issuer_transport
    )
    async with lifespan_client(app) as c:
        yield c


def _capture_logs() -> io.StringIO:
    buffer = io.StringIO()
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "kommune":
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(buffer)
    return buffer


@pytest.mark.parametrize("path", ["/api/v1/notes", "/api/v1/notes/nul"])
async def test_database_error_rolls_back_and_is_a_500_problem_without_sql(
    client: httpx.AsyncClient, auth_headers: HeadersFactory, notes_database: str, path: str
) -> None:
    before = await _count(notes_database)
    buffer = _capture_logs()
    response = await client.post(
        path, headers={**auth_headers("u-1", ["staff"]), "X-Request-ID": "db-boom-1"}
    )
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "db-boom-1"
    body = response.json()
    assert body == {
        "type": "https://kommune.heidenheim.de/problems/internal_error",
        "title": "Internal server error",
        "status": 500,
        "code": "internal_error",
        "detail": "An unexpected error occurred; it has been logged.",
        "instance": path,
        "request_id": "db-boom-1",
    }
    for leak in ("INSERT", "secret_table", "division", "SELECT", "sqlalchemy", "asyncpg", "0x00"):
        assert leak.lower() not in response.text.lower()
    # Rolled back: the row written before the error is not there.
    assert await _count(notes_database) == before
    errors = [
        json.loads(line)
        for line in buffer.getvalue().splitlines()
        if line.strip() and '"unhandled_error"' in line
    ]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "db-boom-1"
    assert errors[0]["level"] == "error"
    # The operator gets the cause in the log (never the client).
    exc_types = {frame["exc_type"] for frame in errors[0]["exception"]}
    assert exc_types & {
        "DBAPIError",
        "DataError",
        "DivisionByZeroError",
        "CharacterNotInRepertoireError",
    }


async def test_the_service_answers_normally_after_the_error(
    client: httpx.AsyncClient, auth_headers: HeadersFactory
) -> None:
    for _ in range(3):
        failed = await client.post("/api/v1/notes", headers=auth_headers("u-1", ["staff"]))
        assert failed.status_code == 500
    # No pooled connection was left in a failed transaction: the next query works.
    response = await client.get("/api/v1/notes", headers=auth_headers("u-1", ["staff"]))
    assert response.status_code == 200
    assert response.json() == {"count": 0}


async def test_method_not_allowed_names_every_method_of_the_path(
    client: httpx.AsyncClient, auth_headers: HeadersFactory
) -> None:
    # GET and POST /api/v1/notes are two routes; Starlette alone would answer "Allow: GET".
    response = await client.request(
        "DELETE", "/api/v1/notes", headers=auth_headers("u-1", ["staff"])
    )
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "GET, POST"
    documented = (await client.get("/openapi.json")).json()["paths"]["/api/v1/notes"]
    assert {m.upper() for m in documented} == {"GET", "POST"}


async def test_literal_path_captured_by_a_parameter_is_405_not_422(
    client: httpx.AsyncClient, auth_headers: HeadersFactory
) -> None:
    # PATCH /api/v1/notes/count reaches PATCH /api/v1/notes/{note_id} and fails as an invalid
    # id; the document says /api/v1/notes/count has GET only.
    headers = auth_headers("u-1", ["staff"])
    response = await client.patch("/api/v1/notes/count", json={"body": "x"}, headers=headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET"
    # The parameterised path itself still validates its parameter.
    response = await client.patch("/api/v1/notes/not-a-number", json={"body": "x"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "note_id"]
