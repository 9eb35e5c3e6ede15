"""Case files: numbers unique under concurrency, access per file, confidentiality, closing."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from kommune.testing.service import Personas, assert_problem

from .conftest import DocDb, Staff, open_file, plan_unit_id, upload

YEAR = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).year


async def fresh_unit(client: httpx.AsyncClient, people: Personas) -> tuple[str, str]:
    code = f"8.{uuid.uuid4().int % 9000 + 100}"
    response = await client.post(
        "/api/v1/fileplan",
        json={
            "parent_id": await plan_unit_id(client, people, "8"),
            "code": code,
            "title": "Märkte und Messen",
            "valid_from": "2020-01-01",
            "retention_years": 10,
            "archive_decision": "V",
        },
        headers=people.records_manager.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), code


async def test_file_numbers_are_unique_and_gapless_under_concurrency(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    unit, code = await fresh_unit(client, people)

    async def create(n: int) -> httpx.Response:
        return await client.post(
            "/api/v1/files",
            json={"plan_unit_id": unit, "title": f"Marktstand {n}", "department": "bauamt"},
            headers=staff.records.headers,
        )

    # 24 requests at once: each its own transaction on its own pool connection (pool of 10).
    responses = await asyncio.gather(*(create(n) for n in range(24)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    numbers = sorted(r.json()["file_number"] for r in responses)
    assert numbers == [f"{code}/{YEAR}/{n:04d}" for n in range(1, 25)]
    assert (
        await db.scalar(
            "SELECT last_sequence FROM file_number_counters WHERE plan_unit_id = :id",
            id=uuid.UUID(unit),
        )
        == 24
    )


async def test_concurrent_transactions_queue_on_the_counter(
    client: httpx.AsyncClient, people: Personas, db: DocDb
) -> None:
    """Two raw transactions: the second waits for the first's counter row lock, and a rolled
    back number is given again (no gap, no duplicate)."""
    unit, _ = await fresh_unit(client, people)
    sql = (
        "INSERT INTO file_number_counters (plan_unit_id, year, last_sequence) "
        "VALUES (:u, 2030, 1) ON CONFLICT (plan_unit_id, year) "
        "DO UPDATE SET last_sequence = file_number_counters.last_sequence + 1 "
        "RETURNING last_sequence"
    )
    from sqlalchemy import text

    async with db.engine.connect() as first, db.engine.connect() as second:
        t1 = await first.begin()
        assert (await first.execute(text(sql), {"u": uuid.UUID(unit)})).scalar() == 1
        t2 = await second.begin()
        waiting = asyncio.ensure_future(second.execute(text(sql), {"u": uuid.UUID(unit)}))
        done, _ = await asyncio.wait({waiting}, timeout=0.5)
        assert not done  # blocked on the first transaction's row
        await t1.rollback()
        assert (await waiting).scalar() == 1  # the rolled-back number, given again
        await t2.commit()


async def test_a_file_is_numbered_by_plan_code_and_year(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    case_file = await open_file(client, people, staff.bau, code="6.2")
    assert re.fullmatch(rf"6\.2/{YEAR}/\d{{4}}", case_file["file_number"])
    assert case_file["department"] == "bauamt"
    assert case_file["status"] == "open"
    assert case_file["closed_at"] is None
    assert case_file["readers"] == [staff.bau.sub]
    assert case_file["may_write"] is True
    found = await client.get(
        "/api/v1/files",
        params={"file_number": case_file["file_number"]},
        headers=staff.bau2.headers,
    )
    assert [f["id"] for f in found.json()["items"]] == [case_file["id"]]


async def test_access_per_file(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    case_file = await open_file(client, people, staff.bau)
    url = f"/api/v1/files/{case_file['id']}"
    # The department's caseworkers and records management read it ...
    for who in (staff.bau2, staff.records, people.admin):
        assert (await client.get(url, headers=who.headers)).status_code == 200
    # ... other departments, staff without casework rights and citizens do not: 404 / 403.
    for who in (staff.kasse, staff.staff_bau, people.staff, people.caseworker):
        assert_problem(await client.get(url, headers=who.headers), 404)
        listed = await client.get("/api/v1/files", params={"limit": 100}, headers=who.headers)
        assert case_file["id"] not in [f["id"] for f in listed.json()["items"]]
    assert_problem(await client.get(url, headers=people.citizen.headers), 403)
    denied = await db.rows(
        "SELECT actor, action FROM audit_events WHERE file_id = :id AND outcome = 'denied'",
        id=uuid.UUID(case_file["id"]),
    )
    assert {(r["actor"], r["action"]) for r in denied} >= {
        (staff.kasse.sub, "file.read"),
        (people.staff.sub, "file.read"),
    }

    # A named reader reads, but does not write.
    named = await client.post(
        f"{url}/readers", json={"subject": staff.kasse.sub}, headers=staff.bau.headers
    )
    assert named.status_code == 204, named.text
    detail = await client.get(url, headers=staff.kasse.headers)
    assert detail.status_code == 200
    assert detail.json()["may_write"] is False
    before = await db.snapshot()
    assert_problem(
        await client.post(
            f"{url}/processes", json={"title": "Nachforderung"}, headers=staff.kasse.headers
        ),
        403,
    )
    assert_problem(await upload(client, staff.kasse, case_file["id"], b"x"), 403)
    assert await db.snapshot() == before
    removed = await client.delete(f"{url}/readers/{staff.kasse.sub}", headers=staff.bau.headers)
    assert removed.status_code == 204
    assert_problem(await client.get(url, headers=staff.kasse.headers), 404)


async def test_confidential_files_are_for_named_people_and_records_management(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    case_file = await open_file(
        client, people, staff.bau, code="0.2.2", confidentiality="confidential", title="Personal"
    )
    url = f"/api/v1/files/{case_file['id']}"
    assert (await client.get(url, headers=staff.bau.headers)).status_code == 200  # creator
    assert (await client.get(url, headers=staff.records.headers)).status_code == 200
    assert_problem(await client.get(url, headers=staff.bau2.headers), 404)  # same department
    search = await client.get(
        "/api/v1/files", params={"department": "bauamt", "limit": 100}, headers=staff.bau2.headers
    )
    assert case_file["id"] not in [f["id"] for f in search.json()["items"]]


async def test_caseworkers_open_files_for_their_own_department_only(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    unit = await plan_unit_id(client, people, "6.2")
    before = await db.snapshot()
    other = await client.post(
        "/api/v1/files",
        json={"plan_unit_id": unit, "title": "Fremd", "department": "kaemmerei"},
        headers=staff.bau.headers,
    )
    assert_problem(other, 403)
    no_department = await client.post(
        "/api/v1/files",
        json={"plan_unit_id": unit, "title": "Ohne"},
        headers=people.caseworker.headers,
    )
    assert_problem(no_department, 422)
    for role in ("staff", "operator", "project_lead", "change_agent"):
        response = await client.post(
            "/api/v1/files",
            json={"plan_unit_id": unit, "title": "Nein"},
            headers=people.by_name(role).headers,
        )
        assert_problem(response, 403)
    for body in (
        {"plan_unit_id": str(uuid.uuid4()), "title": "Gibt es nicht"},
        {"plan_unit_id": unit, "title": "x"},
        {"plan_unit_id": unit, "title": "Gut", "confidentiality": "geheim"},
        {"plan_unit_id": "nope", "title": "Gut"},
        {"plan_unit_id": unit, "title": "Gut", "readers": ["a"] * 51},
    ):
        response = await client.post("/api/v1/files", json=body, headers=staff.bau.headers)
        assert_problem(response, 422)
    assert_problem(
        await client.get(
            "/api/v1/files", params={"file_number": "kein/aktenzeichen"}, headers=staff.bau.headers
        ),
        422,
    )
    assert await db.snapshot() == before


async def test_processes_and_closing(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    case_file = await open_file(client, people, staff.bau)
    url = f"/api/v1/files/{case_file['id']}"
    first = await client.post(
        f"{url}/processes", json={"title": "Antrag"}, headers=staff.bau.headers
    )
    second = await client.post(
        f"{url}/processes", json={"title": "Stellungnahme"}, headers=staff.bau2.headers
    )
    assert first.status_code == second.status_code == 201
    assert [first.json()["sequence"], second.json()["sequence"]] == [1, 2]
    listed = await client.get(f"{url}/processes", headers=staff.records.headers)
    assert [p["title"] for p in listed.json()["items"]] == ["Antrag", "Stellungnahme"]
    assert_problem(await client.get(f"{url}/processes", headers=staff.kasse.headers), 404)

    assert_problem(await client.post(f"{url}/close", headers=staff.bau.headers), 409)
    for process in (first.json(), second.json()):
        closed = await client.post(
            f"{url}/processes/{process['id']}/close", headers=staff.bau.headers
        )
        assert closed.status_code == 200
        assert closed.json()["status"] == "closed"
    closed_file = await client.post(f"{url}/close", headers=staff.bau.headers)
    assert closed_file.status_code == 200, closed_file.text
    assert closed_file.json()["status"] == "closed"
    assert closed_file.json()["closed_at"]

    before = await db.snapshot()
    assert_problem(await client.post(f"{url}/close", headers=staff.bau.headers), 409)
    assert_problem(
        await client.post(f"{url}/processes", json={"title": "Zu spät"}, headers=staff.bau.headers),
        409,
    )
    assert_problem(await upload(client, staff.bau, case_file["id"], b"zu spaet"), 409)
    assert await db.snapshot() == before
    kinds = await db.rows(
        "SELECT type FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq", id=case_file["id"]
    )
    assert [k["type"] for k in kinds] == [
        "de.kommune.documents.file.created.v1",
        "de.kommune.documents.file.closed.v1",
    ]
