"""Retention and disposal: due files, legal holds, the archive run (0501 offer, 0502 appraisal,
0503 hand-over, 0506 confirmation), tombstones."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import httpx

from kommune.testing.service import Personas, assert_problem
from kommune_documents.settings import DocumentsSettings

from .conftest import DocDb, Staff, plan_unit_id, upload

NS = "{urn:xoev-de:xdomea:schema:3.0.0}"


async def unit(
    client: httpx.AsyncClient, people: Personas, decision: str, years: int | None
) -> str:
    response = await client.post(
        "/api/v1/fileplan",
        json={
            "parent_id": await plan_unit_id(client, people, "1"),
            "code": f"1.{uuid.uuid4().int % 9000 + 100}",
            "title": f"Test {decision}",
            "valid_from": "2020-01-01",
            "retention_years": years,
            "archive_decision": decision,
        },
        headers=people.records_manager.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def closed_file(
    client: httpx.AsyncClient,
    staff: Staff,
    unit_id: str,
    content: bytes | None,
    *,
    close: bool = True,
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/files",
        json={"plan_unit_id": unit_id, "title": "Ordnungswidrigkeit", "department": "bauamt"},
        headers=staff.records.headers,
    )
    assert created.status_code == 201, created.text
    case_file: dict[str, Any] = created.json()
    if content is not None:
        document = await upload(client, staff.records, case_file["id"], content)
        assert document.status_code == 201, document.text
        case_file["document"] = document.json()
    if close:
        closed = await client.post(
            f"/api/v1/files/{case_file['id']}/close", headers=staff.records.headers
        )
        assert closed.status_code == 200, closed.text
    return case_file


def unique(label: str) -> bytes:
    return f"{label} {uuid.uuid4().hex}".encode()


async def test_a_due_file_is_disposed_after_the_archive_run_unless_on_hold(
    client: httpx.AsyncClient,
    people: Personas,
    staff: Staff,
    db: DocDb,
    settings: DocumentsSettings,
) -> None:
    destroy, keep, appraise = (
        await unit(client, people, "V", 0),
        await unit(client, people, "A", 0),
        await unit(client, people, "B", 0),
    )
    longer = await unit(client, people, "V", 10)
    forever = await unit(client, people, "A", None)
    file_v = await closed_file(client, staff, destroy, unique("Bußgeldbescheid"))
    file_hold = await closed_file(client, staff, destroy, unique("Gerichtsverfahren"))
    file_late_hold = await closed_file(client, staff, destroy, unique("Späte Sperre"))
    file_a = await closed_file(client, staff, keep, unique("Ratsbeschluss"))
    file_b = await closed_file(client, staff, appraise, unique("Gutachten"))
    not_yet = await closed_file(client, staff, longer, unique("Noch aufbewahren"))
    never = await closed_file(client, staff, forever, unique("Dauernd"))
    still_open = await closed_file(client, staff, destroy, unique("Offen"), close=False)

    hold = await client.put(
        f"/api/v1/files/{file_hold['id']}/legal-hold",
        json={"reason": "Klage vor dem Verwaltungsgericht"},
        headers=staff.records.headers,
    )
    assert hold.status_code == 200, hold.text
    assert hold.json()["legal_hold"] == "Klage vor dem Verwaltungsgericht"

    due = await client.get("/api/v1/retention/due?limit=100", headers=staff.records.headers)
    assert due.status_code == 200, due.text
    due_ids = {d["file_id"] for d in due.json()["items"]}
    assert {file_v["id"], file_late_hold["id"], file_a["id"], file_b["id"]} <= due_ids
    assert not {file_hold["id"], not_yet["id"], never["id"], still_open["id"]} & due_ids

    started = await client.post("/api/v1/retention/runs", headers=staff.records.headers)
    assert started.status_code == 201, started.text
    run = started.json()
    run_url = f"/api/v1/retention/runs/{run['id']}"
    offered = {i["file_id"]: i for i in run["items"]}
    assert {file_v["id"], file_a["id"], file_b["id"], file_late_hold["id"]} <= set(offered)
    assert file_hold["id"] not in offered
    assert offered[file_b["id"]]["plan_decision"] == "B"
    assert_problem(await client.post("/api/v1/retention/runs", headers=staff.records.headers), 409)

    offer = await client.get(f"{run_url}/offer", headers=staff.records.headers)
    assert offer.headers["content-type"].startswith("application/xml")
    root = SafeET.fromstring(offer.content)
    assert root.tag == f"{NS}Aussonderung.Anbieteverzeichnis.0501"
    numbers = {e.text for e in root.iter(f"{NS}Kennzeichen")}
    assert file_v["file_number"] in numbers
    assert file_a["file_number"] in numbers

    # Held after the offer: kept when the run completes.
    late = await client.put(
        f"/api/v1/files/{file_late_hold['id']}/legal-hold",
        json={"reason": "Auskunftsersuchen"},
        headers=staff.records.headers,
    )
    assert late.status_code == 200

    # The archive must appraise the B file; unknown files are refused; nothing changes.
    others = [
        {"file_id": i, "decision": "V"} for i in offered if i not in {file_b["id"], file_a["id"]}
    ]
    assert_problem(
        await client.post(
            f"{run_url}/appraisal", json={"decisions": others}, headers=staff.records.headers
        ),
        422,
    )
    assert_problem(
        await client.post(
            f"{run_url}/appraisal",
            json={"decisions": [{"file_id": str(uuid.uuid4()), "decision": "A"}]},
            headers=staff.records.headers,
        ),
        422,
    )
    assert_problem(await client.post(f"{run_url}/confirm", headers=staff.records.headers), 409)
    b_decisions = [
        {"file_id": i, "decision": "V"}
        for i, item in offered.items()
        if item["plan_decision"] == "B"
    ]
    appraised = await client.post(
        f"{run_url}/appraisal", json={"decisions": b_decisions}, headers=staff.records.headers
    )
    assert appraised.status_code == 200, appraised.text
    assert appraised.json()["state"] == "appraised"

    package = await client.get(f"{run_url}/handover", headers=staff.records.headers)
    assert package.status_code == 200, package.text
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    names = archive.namelist()
    assert "xdomea_0503.xml" in names
    a_content = [n for n in names if file_a["document"]["id"] in n]
    assert len(a_content) == 1
    assert archive.read(a_content[0]).startswith(b"Ratsbeschluss")
    assert not [n for n in names if file_v["document"]["id"] in n]  # V is not handed over

    sha_v = file_v["document"]["versions"][0]["sha256"]
    assert (settings.storage_path / sha_v[:2] / sha_v[2:4] / sha_v).exists()
    confirmed = await client.post(f"{run_url}/confirm", headers=staff.records.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "completed"
    outcomes = {i["file_id"]: i["outcome"] for i in confirmed.json()["items"]}
    assert outcomes[file_v["id"]] == "destroyed"
    assert outcomes[file_a["id"]] == "archived"
    assert outcomes[file_b["id"]] == "destroyed"
    assert outcomes[file_late_hold["id"]] == "kept"

    # Content gone, tombstone kept.
    for gone in (file_v, file_a, file_b):
        assert_problem(
            await client.get(
                f"/api/v1/documents/{gone['document']['id']}", headers=staff.records.headers
            ),
            404,
        )
        tombstone = await client.get(f"/api/v1/files/{gone['id']}", headers=staff.records.headers)
        assert tombstone.status_code == 200
        assert tombstone.json()["disposed_at"] is not None
    assert not (settings.storage_path / sha_v[:2] / sha_v[2:4] / sha_v).exists()
    assert await db.scalar("SELECT count(*) FROM blobs WHERE sha256 = :s", s=sha_v) == 0
    for kept in (file_hold, file_late_hold):
        still = await client.get(
            f"/api/v1/documents/{kept['document']['id']}/content", headers=staff.records.headers
        )
        assert still.status_code == 200
    audit = await db.rows(
        "SELECT action FROM audit_events WHERE file_id = :id ORDER BY id",
        id=uuid.UUID(file_v["id"]),
    )
    actions = [a["action"] for a in audit if a["action"].startswith(("file.offered", "file.dis"))]
    assert actions == ["file.offered", "file.disposed"]
    assert_problem(await client.post(f"{run_url}/confirm", headers=staff.records.headers), 409)


async def test_retention_is_for_records_managers_and_bad_input_changes_nothing(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    some_file = await closed_file(client, staff, await unit(client, people, "V", 50), None)
    before = await db.snapshot()
    for who in (staff.bau, people.staff, people.operator, people.citizen):
        for method, path in (
            ("GET", "/api/v1/retention/due"),
            ("POST", "/api/v1/retention/runs"),
            ("GET", f"/api/v1/retention/runs/{uuid.uuid4()}"),
            ("PUT", f"/api/v1/files/{some_file['id']}/legal-hold"),
            ("DELETE", f"/api/v1/files/{some_file['id']}/legal-hold"),
        ):
            response = await client.request(
                method, path, json={"reason": "Prüfung"}, headers=who.headers
            )
            assert_problem(response, 403)
    hold_url = f"/api/v1/files/{some_file['id']}/legal-hold"
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "ok ok", "extra": 1}):
        assert_problem(await client.put(hold_url, json=body, headers=staff.records.headers), 422)
    assert_problem(
        await client.put(
            f"/api/v1/files/{uuid.uuid4()}/legal-hold",
            json={"reason": "Prüfung"},
            headers=staff.records.headers,
        ),
        404,
    )
    assert_problem(await client.delete(hold_url, headers=staff.records.headers), 409)
    assert_problem(
        await client.get(f"/api/v1/retention/runs/{uuid.uuid4()}", headers=staff.records.headers),
        404,
    )
    assert await db.snapshot() == before
