"""The audit trail: append-only in the database itself, per file, exportable."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kommune.testing.service import Personas, assert_problem

from .conftest import DocDb, Staff, open_file, upload


async def test_audit_rows_cannot_be_changed_even_by_the_services_own_user(db: DocDb) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_events (occurred_at, actor, actor_roles, action, outcome,"
                " detail) VALUES (now(), 'probe', '', 'file.read', 'allowed', '{}')"
            )
        )
    count = await db.scalar("SELECT count(*) FROM audit_events")
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as connection:
                await connection.execute(text(statement))
    assert await db.scalar("SELECT count(*) FROM audit_events") == count
    assert await db.scalar("SELECT count(*) FROM audit_events WHERE actor = 'probe'") == 1


async def test_the_trail_of_a_file_is_queryable_and_exportable(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    case_file = await open_file(client, people, staff.bau)
    document = (await upload(client, staff.bau, case_file["id"], b"Stellungnahme")).json()
    await client.get(f"/api/v1/documents/{document['id']}/content", headers=staff.bau2.headers)
    await client.get(f"/api/v1/files/{case_file['id']}", headers=staff.kasse.headers)  # denied

    url = f"/api/v1/files/{case_file['id']}/audit"
    page = await client.get(url, params={"limit": 2}, headers=staff.records.headers)
    assert page.status_code == 200, page.text
    events = page.json()["items"]
    cursor = page.json()["next_cursor"]
    while cursor:
        more = await client.get(url, params={"cursor": cursor}, headers=staff.records.headers)
        events += more.json()["items"]
        cursor = more.json()["next_cursor"]
    seen = [(e["actor"], e["action"], e["outcome"]) for e in events]
    assert seen[:2] == [
        (staff.bau.sub, "file.created", "allowed"),
        (staff.bau.sub, "document.created", "allowed"),
    ]
    assert (staff.bau2.sub, "document.downloaded", "allowed") in seen
    assert (staff.kasse.sub, "file.read", "denied") in seen

    export = await client.get(f"{url}/export", headers=people.admin.headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows][: len(seen)] == seen
    assert rows[-1]["action"] == "audit.read"


async def test_only_records_management_reads_the_trail(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    case_file = await open_file(client, people, staff.bau)
    for who in (staff.bau, people.staff, people.operator, people.citizen):
        for path in ("audit", "audit/export"):
            assert_problem(
                await client.get(f"/api/v1/files/{case_file['id']}/{path}", headers=who.headers),
                403,
            )
    assert_problem(
        await client.get(f"/api/v1/files/{uuid.uuid4()}/audit", headers=staff.records.headers),
        404,
    )
