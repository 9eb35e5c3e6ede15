"""A disposal run on either content store backend: the hand-over package is read from the
store, confirmation removes content no other version uses, and exactly the disposal events are
written to the outbox (``documents.file.v1``, ``documents.document.v1``)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from kommune.testing.service import Personas

from .conftest import Backend, DocDb, Staff, open_file, upload
from .test_retention import closed_file, unique, unit

DISPOSAL_TYPES = (
    "de.kommune.documents.file.handed_over.v1",
    "de.kommune.documents.file.disposed.v1",
    "de.kommune.documents.document.deleted.v1",
)


async def events_of(db: DocDb, after_seq: int, aggregates: set[str]) -> list[dict[str, Any]]:
    rows = await db.rows(
        "SELECT topic, type, aggregateid, payload FROM recorded.outbox "
        "WHERE seq > :after ORDER BY seq",
        after=after_seq,
    )
    return [dict(row) for row in rows if row["aggregateid"] in aggregates]


async def test_a_disposal_run_publishes_exactly_its_events_and_removes_unused_content(
    backend: Backend, people: Personas, staff: Staff, db: DocDb
) -> None:
    client, records = backend.client, staff.records.headers
    destroy, keep = await unit(client, people, "V", 0), await unit(client, people, "A", 0)
    shared = unique("Gemeinsamer Inhalt")
    file_v = await closed_file(client, staff, destroy, unique("Bußgeldbescheid"), close=False)
    v_doc = file_v["document"]
    second = await client.post(
        f"/api/v1/documents/{v_doc['id']}/versions",
        files={"content": ("b.txt", unique("Fassung 2"))},
        headers=records,
    )
    assert second.status_code == 201, second.text
    v_shared = (await upload(client, staff.records, file_v["id"], shared)).json()
    closed = await client.post(f"/api/v1/files/{file_v['id']}/close", headers=records)
    assert closed.status_code == 200, closed.text
    file_a = await closed_file(client, staff, keep, unique("Ratsbeschluss"))
    file_hold = await closed_file(client, staff, destroy, unique("Gerichtsverfahren"))
    assert (
        await client.put(
            f"/api/v1/files/{file_hold['id']}/legal-hold", json={"reason": "Klage"}, headers=records
        )
    ).status_code == 200
    # The same bytes in a file that stays: their content must survive the disposal.
    living = await open_file(client, people, staff.bau)
    assert (await upload(client, staff.bau, living["id"], shared)).status_code == 201

    run = await client.post("/api/v1/retention/runs", headers=records)
    assert run.status_code == 201, run.text
    run_url = f"/api/v1/retention/runs/{run.json()['id']}"
    offered = {i["file_id"]: i for i in run.json()["items"]}
    assert {file_v["id"], file_a["id"]} <= set(offered)
    assert file_hold["id"] not in offered
    appraisal = [  # the archive keeps what the plan says to keep, and no B file
        {"file_id": i, "decision": "A" if item["plan_decision"] == "A" else "V"}
        for i, item in offered.items()
    ]
    appraised = await client.post(
        f"{run_url}/appraisal", json={"decisions": appraisal}, headers=records
    )
    assert appraised.status_code == 200, appraised.text

    package = await client.get(f"{run_url}/handover", headers=records)
    assert package.status_code == 200, package.text
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    [a_name] = [n for n in archive.namelist() if file_a["document"]["id"] in n]
    assert archive.read(a_name).startswith(b"Ratsbeschluss")

    [before] = await db.rows("SELECT coalesce(max(seq), 0) AS seq FROM recorded.outbox")
    confirmed = await client.post(f"{run_url}/confirm", headers=records)
    assert confirmed.status_code == 200, confirmed.text
    run_id = confirmed.json()["id"]

    documents_v = {v_doc["id"]: 2, v_shared["id"]: 1}
    a_doc = file_a["document"]["id"]
    watched = {file_v["id"], file_a["id"], file_hold["id"], *documents_v, a_doc}
    written = await events_of(db, before["seq"], watched)
    assert sorted((e["type"], e["aggregateid"]) for e in written) == sorted(
        [
            ("de.kommune.documents.document.deleted.v1", v_doc["id"]),
            ("de.kommune.documents.document.deleted.v1", v_shared["id"]),
            ("de.kommune.documents.file.disposed.v1", file_v["id"]),
            ("de.kommune.documents.document.deleted.v1", a_doc),
            ("de.kommune.documents.file.handed_over.v1", file_a["id"]),
            ("de.kommune.documents.file.disposed.v1", file_a["id"]),
        ]
    )
    by_key = {(e["type"], e["aggregateid"]): e for e in written}
    for document_id, versions in {**documents_v, a_doc: 1}.items():
        event = by_key[("de.kommune.documents.document.deleted.v1", document_id)]
        assert event["topic"].endswith("documents.document.v1")
        assert event["payload"]["versions"] == versions
        assert event["payload"]["run_id"] == run_id
        assert event["payload"]["reason"] == "disposal"
    disposed_v = by_key[("de.kommune.documents.file.disposed.v1", file_v["id"])]
    assert disposed_v["topic"].endswith("documents.file.v1")
    assert disposed_v["payload"] == {
        "file_id": file_v["id"],
        "file_number": file_v["file_number"],
        "run_id": run_id,
        "outcome": "destroyed",
        "documents": 2,
        "disposed_at": disposed_v["payload"]["disposed_at"],
    }
    disposed_a = by_key[("de.kommune.documents.file.disposed.v1", file_a["id"])]
    assert (disposed_a["payload"]["outcome"], disposed_a["payload"]["documents"]) == ("archived", 1)
    handed = by_key[("de.kommune.documents.file.handed_over.v1", file_a["id"])]
    assert handed["payload"]["file_number"] == file_a["file_number"]
    # One file.disposed per disposed item of the run, nothing for a kept one, and nothing else.
    run_events = [
        dict(r)
        for r in await db.rows(
            "SELECT type, payload FROM recorded.outbox WHERE seq > :after", after=before["seq"]
        )
    ]
    assert {r["type"] for r in run_events} <= set(DISPOSAL_TYPES)
    disposed_items = {i["file_id"] for i in confirmed.json()["items"] if i["outcome"] != "kept"}
    assert {
        r["payload"]["file_id"]
        for r in run_events
        if r["type"] == "de.kommune.documents.file.disposed.v1"
    } == disposed_items

    # Content: gone where nothing else uses it, kept where a living file does.
    for gone in (v_doc, file_a["document"]):
        assert backend.read(gone["versions"][0]["sha256"]) is None
    shared_sha = v_shared["versions"][0]["sha256"]
    assert backend.read(shared_sha) == shared
    assert await db.scalar("SELECT count(*) FROM blobs WHERE sha256 = :s", s=shared_sha) == 1
    # The run is over: confirming again is refused and writes nothing.
    [after] = await db.rows("SELECT coalesce(max(seq), 0) AS seq FROM recorded.outbox")
    again = await client.post(f"{run_url}/confirm", headers=records)
    assert again.status_code == 409
    assert await events_of(db, after["seq"], watched) == []
