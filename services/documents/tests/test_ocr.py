"""OCR of scans in the background: image-only PDFs and images are read by Tesseract (German)
after an ``ocr_requested`` event, then found by search; born-digital PDFs never are; a broken
scan fails once, cleanly, and the consumer goes on."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import httpx

from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.service import Personas, assert_problem
from kommune_documents import events
from kommune_documents.documents.backends import build_store
from kommune_documents.ocr.consumer import OcrReader
from kommune_documents.ocr.engine import Limits
from kommune_documents.settings import DocumentsSettings

from .conftest import DocDb, Staff, open_file, upload
from .samples import pdf_bytes
from .scans import made_up_word, png_bytes, scanned_pdf_bytes

OCR_DEADLINE = 60.0


async def hits(client: httpx.AsyncClient, who: Any, q: str) -> list[str]:
    response = await client.get("/api/v1/search", params={"q": q}, headers=who.headers)
    assert response.status_code == 200, response.text
    return [h["document_id"] for h in response.json()["items"]]


async def ocr_status(db: DocDb, document_id: str, version: int = 1) -> str | None:
    status: str | None = await db.scalar(
        "SELECT ocr_status FROM document_versions WHERE document_id = :id AND version = :v",
        id=document_id,
        v=version,
    )
    return status


async def outbox_types(db: DocDb, aggregate_id: str) -> list[str]:
    rows = await db.rows(
        "SELECT type FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq", id=aggregate_id
    )
    return [row["type"] for row in rows]


async def test_a_scanned_pdf_and_an_image_are_read_and_found_only_by_those_with_access(
    client: httpx.AsyncClient,
    db: DocDb,
    people: Personas,
    staff: Staff,
    assert_event_valid: AssertEventValid,
) -> None:
    word_pdf, word_png = made_up_word(), made_up_word("Kanal")
    case_file = await open_file(client, people, staff.bau, title="Baugenehmigung Lärmschutz")
    scanned = scanned_pdf_bytes(
        ("Deckblatt",), ("Baugenehmigung Heidenheim Lärmschutz", f"Aktenzeichen {word_pdf}")
    )
    response = await upload(client, staff.bau, case_file["id"], scanned, filename="scan.pdf")
    assert response.status_code == 201, response.text
    pdf_id = response.json()["id"]
    assert response.json()["versions"][0]["ocr_status"] == "pending"
    response = await upload(
        client,
        staff.bau,
        case_file["id"],
        png_bytes(f"Kanalanschluss {word_png}"),
        filename="s.png",
    )
    assert response.status_code == 201, response.text
    png_id = response.json()["id"]

    async def both_found() -> bool:
        return await hits(client, staff.bau, word_pdf) == [pdf_id] and await hits(
            client, staff.bau, word_png
        ) == [png_id]

    await wait_until(both_found, deadline=OCR_DEADLINE, what="the scans found by their words")
    assert pdf_id in await hits(client, staff.bau, "Lärmschutz Baugenehmigung")
    assert await ocr_status(db, pdf_id) == "done"
    detail = await client.get(f"/api/v1/documents/{pdf_id}", headers=staff.bau.headers)
    assert detail.json()["versions"][0]["ocr_status"] == "done"
    # The text is in the database, never in an event.
    assert await outbox_types(db, pdf_id) == [
        events.DOCUMENT_VERSION_ADDED,
        events.OCR_REQUESTED,
        events.OCR_COMPLETED,
    ]
    payloads = await db.rows(
        "SELECT type, payload FROM recorded.outbox WHERE aggregateid = :id", id=pdf_id
    )
    for row in payloads:
        assert word_pdf not in str(row["payload"])
        assert_event_valid(row["type"], row["payload"])
    completed = next(r["payload"] for r in payloads if r["type"] == events.OCR_COMPLETED)
    assert completed["pages"] == 2
    assert completed["target"] == "document"
    # Permissions are those of the file: another department's caseworker finds nothing.
    for who in (staff.kasse, staff.staff_bau, people.staff):
        assert await hits(client, who, word_pdf) == []
        assert await hits(client, who, word_png) == []
    assert_problem(
        await client.get(f"/api/v1/documents/{pdf_id}", headers=staff.kasse.headers), 404
    )
    assert await hits(client, staff.records, word_pdf) == [pdf_id]


async def test_a_born_digital_pdf_is_indexed_at_once_and_never_read_by_ocr(
    client: httpx.AsyncClient, db: DocDb, people: Personas, staff: Staff
) -> None:
    word = made_up_word("Satzung")
    case_file = await open_file(client, people, staff.bau)
    response = await upload(
        client, staff.bau, case_file["id"], pdf_bytes(f"Gebuehrensatzung {word}"), filename="a.pdf"
    )
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    assert response.json()["versions"][0]["ocr_status"] is None
    assert await hits(client, staff.bau, word) == [document_id]  # no waiting: extracted directly
    assert await ocr_status(db, document_id) is None
    assert await outbox_types(db, document_id) == [events.DOCUMENT_VERSION_ADDED]


async def test_a_broken_scan_fails_once_and_the_next_version_is_read(
    client: httpx.AsyncClient,
    db: DocDb,
    people: Personas,
    staff: Staff,
    assert_event_valid: AssertEventValid,
) -> None:
    word = made_up_word("Gutachten")
    case_file = await open_file(client, people, staff.bau)
    whole = png_bytes(f"Gutachten {word}")
    truncated = whole[: len(whole) // 2]  # a PNG signature and header, then nothing decodable
    response = await upload(client, staff.bau, case_file["id"], truncated, filename="kaputt.png")
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]

    async def failed() -> bool:
        return await ocr_status(db, document_id) == "failed"

    await wait_until(failed, deadline=OCR_DEADLINE, what="the broken scan's OCR failed")
    # The same key, so the same partition: a stuck or retried failure would hold this back.
    response = await client.post(
        f"/api/v1/documents/{document_id}/versions",
        files={"content": ("neu.png", whole, "application/octet-stream")},
        headers=staff.bau.headers,
    )
    assert response.status_code == 201, response.text

    async def found() -> bool:
        return await hits(client, staff.bau, word) == [document_id]

    await wait_until(found, deadline=OCR_DEADLINE, what="the second version read")
    assert await ocr_status(db, document_id, 2) == "done"
    assert await ocr_status(db, document_id, 1) == "failed"
    rows = await db.rows(
        "SELECT type, payload FROM recorded.outbox WHERE aggregateid = :id AND type = :t",
        id=document_id,
        t=events.OCR_FAILED,
    )
    assert len(rows) == 1  # failed once, not retried
    assert rows[0]["payload"]["reason"] == "unreadable"
    assert_event_valid(events.OCR_FAILED, rows[0]["payload"])
    assert await outbox_types(db, document_id) == [
        events.DOCUMENT_VERSION_ADDED,
        events.OCR_REQUESTED,
        events.OCR_FAILED,
        events.DOCUMENT_VERSION_ADDED,
        events.OCR_REQUESTED,
        events.OCR_COMPLETED,
    ]


async def test_the_reader_takes_a_scan_from_the_s3_store(
    s3_client: httpx.AsyncClient, s3_settings: DocumentsSettings, people: Personas, staff: Staff
) -> None:
    """The consumer's reader with the S3 backend: a local copy of the object, read by Tesseract."""
    word = made_up_word("Bauakte")
    case_file = await open_file(s3_client, people, staff.bau)
    response = await upload(
        s3_client, staff.bau, case_file["id"], png_bytes(f"Bauakte {word}"), filename="s.png"
    )
    assert response.status_code == 201, response.text
    version = response.json()["versions"][0]
    assert version["ocr_status"] == "pending"
    reader = OcrReader(build_store(s3_settings), Limits(page_timeout=30, total_timeout=60))
    recognised = await anyio.to_thread.run_sync(
        reader.recognise_stored, version["sha256"], "image/png"
    )
    assert word in recognised.text
    assert recognised.pages == 1
