"""The digital mailroom: scanned post is taken in by records management, read (OCR), routed by
rules to a department's inbox (or the central one), and filed from there as a document."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.service import Persona, Personas, assert_problem
from kommune_documents import events

from .conftest import DocDb, Staff, open_file
from .samples import pdf_bytes
from .scans import made_up_word, png_bytes

OCR_DEADLINE = 60.0


async def take_in(
    client: httpx.AsyncClient, who: Persona, content: bytes, filename: str, **fields: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/mailroom",
        data=fields,
        files={"content": (filename, content, "application/octet-stream")},
        headers=who.headers,
    )


async def add_rule(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/mailroom/rules", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def inbox_ids(client: httpx.AsyncClient, who: Persona, department: str | None) -> list[str]:
    params = {"limit": "100"} | ({"department": department} if department else {})
    response = await client.get("/api/v1/mailroom/inbox", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_a_scanned_letter_is_read_routed_to_its_department_and_filed_there(
    client: httpx.AsyncClient,
    db: DocDb,
    people: Personas,
    staff: Staff,
    assert_event_valid: AssertEventValid,
) -> None:
    keyword = made_up_word("Bauvoranfrage")
    rule = await add_rule(client, staff.records, department="bauamt", keyword=keyword)
    scan = png_bytes("Stadt Heidenheim, Bauamt", f"Betreff: {keyword} Lärmschutzwand")
    response = await take_in(client, staff.records, scan, "brief.png", sender="Familie Huber")
    assert response.status_code == 201, response.text
    item = response.json()
    assert (item["status"], item["ocr_status"], item["department"]) == (
        "awaiting_ocr",
        "pending",
        None,
    )

    async def routed() -> dict[str, Any] | None:
        got = await client.get(
            f"/api/v1/mailroom/items/{item['id']}", headers=staff.records.headers
        )
        body: dict[str, Any] = got.json()
        return body if body["status"] == "in_inbox" else None

    routed_item = await wait_until(routed, deadline=OCR_DEADLINE, what="the letter routed")
    assert routed_item is not None
    assert routed_item["department"] == "bauamt"
    assert routed_item["ocr_status"] == "done"
    assert keyword in routed_item["excerpt"]
    assert item["id"] in await inbox_ids(client, staff.bau, "bauamt")
    assert item["id"] not in await inbox_ids(client, staff.records, None)  # not central

    # Another department's caseworker: not their inbox, and the item does not exist for them.
    assert_problem(
        await client.get(
            "/api/v1/mailroom/inbox", params={"department": "bauamt"}, headers=staff.kasse.headers
        ),
        403,
    )
    assert_problem(
        await client.get(f"/api/v1/mailroom/items/{item['id']}", headers=staff.kasse.headers), 404
    )
    kasse_file = await open_file(client, people, staff.kasse, code="6.2")
    assert_problem(
        await client.post(
            f"/api/v1/mailroom/items/{item['id']}/file",
            json={"file_id": kasse_file["id"]},
            headers=staff.kasse.headers,
        ),
        404,
    )

    case_file = await open_file(client, people, staff.bau, title="Bauvoranfrage Huber")
    process = await client.post(
        f"/api/v1/files/{case_file['id']}/processes",
        json={"title": "Vorprüfung"},
        headers=staff.bau.headers,
    )
    assert process.status_code == 201, process.text
    # A file the caseworker may not write (the treasury's): 404, and the item stays in the inbox.
    assert_problem(
        await client.post(
            f"/api/v1/mailroom/items/{item['id']}/file",
            json={"file_id": kasse_file["id"]},
            headers=staff.bau.headers,
        ),
        404,
    )
    filed = await client.post(
        f"/api/v1/mailroom/items/{item['id']}/file",
        json={"file_id": case_file["id"], "process_id": process.json()["id"]},
        headers=staff.bau.headers,
    )
    assert filed.status_code == 200, filed.text
    assert filed.json()["status"] == "filed"
    document_id = filed.json()["document_id"]
    document = await client.get(f"/api/v1/documents/{document_id}", headers=staff.bau.headers)
    assert document.status_code == 200, document.text
    assert document.json()["process_id"] == process.json()["id"]
    assert document.json()["title"] == "brief.png"
    assert document.json()["versions"][0]["sha256"] == item["sha256"]
    assert document.json()["versions"][0]["ocr_status"] == "done"
    search = await client.get("/api/v1/search", params={"q": keyword}, headers=staff.bau.headers)
    assert [h["document_id"] for h in search.json()["items"]] == [document_id]
    search = await client.get("/api/v1/search", params={"q": keyword}, headers=staff.kasse.headers)
    assert search.json()["items"] == []
    assert item["id"] not in await inbox_ids(client, staff.bau, "bauamt")
    assert_problem(
        await client.post(
            f"/api/v1/mailroom/items/{item['id']}/file",
            json={"file_id": case_file["id"]},
            headers=staff.bau.headers,
        ),
        409,
    )

    assert (
        await db.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'mail.filed' AND document_id = :d",
            d=document_id,
        )
        == 1
    )
    rows = await db.rows(
        "SELECT type, payload FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq",
        id=item["id"],
    )
    assert [r["type"] for r in rows] == [
        events.MAIL_RECEIVED,
        events.OCR_REQUESTED,
        events.OCR_COMPLETED,
        events.MAIL_ROUTED,
        events.MAIL_FILED,
    ]
    for row in rows:
        assert_event_valid(row["type"], row["payload"])
        assert "Huber" not in str(row["payload"])
    assert rows[3]["payload"]["rule_id"] == rule["id"]
    assert rows[4]["payload"]["document_id"] == document_id


async def test_born_digital_post_is_routed_at_once_by_sender_or_lands_in_the_central_inbox(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    sender = f"Landratsamt {made_up_word('Kreis')}"
    await add_rule(client, staff.records, department="ordnungsamt", sender=sender, priority=5)
    by_sender = await take_in(
        client, staff.records, pdf_bytes("Anhoerung Bussgeldverfahren"), "a.pdf", sender=sender
    )
    assert by_sender.status_code == 201, by_sender.text
    assert (by_sender.json()["status"], by_sender.json()["department"]) == (
        "in_inbox",
        "ordnungsamt",
    )
    assert by_sender.json()["ocr_status"] is None
    unrouted = await take_in(
        client, staff.records, pdf_bytes(f"Werbung {uuid.uuid4().hex}"), "b.pdf"
    )
    assert unrouted.status_code == 201, unrouted.text
    assert (unrouted.json()["status"], unrouted.json()["department"]) == ("in_inbox", None)
    assert unrouted.json()["id"] in await inbox_ids(client, staff.records, None)
    assert unrouted.json()["id"] not in await inbox_ids(client, staff.records, "ordnungsamt")
    assert by_sender.json()["id"] in await inbox_ids(client, people.admin, "ordnungsamt")
    # The central inbox is the mailroom's; an unrouted item is nobody else's.
    assert_problem(await client.get("/api/v1/mailroom/inbox", headers=staff.bau.headers), 403)
    assert_problem(
        await client.get(
            f"/api/v1/mailroom/items/{unrouted.json()['id']}", headers=staff.bau.headers
        ),
        404,
    )


async def test_who_may_take_in_post_and_keep_rules(
    client: httpx.AsyncClient, db: DocDb, people: Personas, staff: Staff
) -> None:
    before = await db.counts("mail_items", "mail_routing_rules", "blobs")
    scan = pdf_bytes("Brief")
    for who in (staff.bau, people.staff, people.citizen, people.operator):
        assert_problem(await take_in(client, who, scan, "a.pdf"), 403)
        assert_problem(
            await client.post(
                "/api/v1/mailroom/rules",
                json={"department": "bauamt", "keyword": "Bauantrag"},
                headers=who.headers,
            ),
            403,
        )
        assert_problem(await client.get("/api/v1/mailroom/rules", headers=who.headers), 403)
    for who in (people.citizen, people.nobody):
        assert_problem(
            await client.get(
                "/api/v1/mailroom/inbox", params={"department": "bauamt"}, headers=who.headers
            ),
            403,
        )
    assert await db.counts("mail_items", "mail_routing_rules", "blobs") == before


async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: DocDb, people: Personas, staff: Staff
) -> None:
    before = await db.counts("mail_items", "mail_routing_rules", "documents")
    rm = staff.records
    # Not a scan: text, an e-mail, an executable.
    assert_problem(await take_in(client, rm, b"Sehr geehrte Damen und Herren", "a.txt"), 415)
    assert_problem(await take_in(client, rm, b"\x7fELF\x02\x01\x01" + b"\0" * 100, "a.pdf"), 415)
    assert_problem(await take_in(client, rm, pdf_bytes("x"), "a.pdf", subject="x"), 422)
    assert_problem(await take_in(client, rm, pdf_bytes("x"), "a.pdf", colour="blau"), 422)
    for body in (
        {"department": "bauamt"},
        {"department": "Bau Amt!", "keyword": "Bauantrag"},
        {"department": "bauamt", "keyword": "ab"},
        {"department": "bauamt", "keyword": "Bauantrag", "priority": -1},
        {"department": "bauamt", "keyword": "Bauantrag", "extra": 1},
    ):
        assert_problem(
            await client.post("/api/v1/mailroom/rules", json=body, headers=rm.headers), 422
        )
    assert_problem(
        await client.get(
            "/api/v1/mailroom/inbox", params={"department": "Bau Amt!"}, headers=rm.headers
        ),
        422,
    )
    assert_problem(
        await client.get(f"/api/v1/mailroom/items/{uuid.uuid4()}", headers=rm.headers), 404
    )
    assert await db.counts("mail_items", "mail_routing_rules", "documents") == before

    item = await take_in(client, rm, pdf_bytes(f"Anfrage {uuid.uuid4().hex}"), "c.pdf")
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    case_file = await open_file(client, people, staff.bau)
    other_file = await open_file(client, people, staff.bau)
    other_process = await client.post(
        f"/api/v1/files/{other_file['id']}/processes", json={"title": "Anderes"}, headers=rm.headers
    )
    assert other_process.status_code == 201, other_process.text
    before = await db.counts("mail_items", "documents", "document_versions", "recorded.outbox")
    for body, code in (
        ({"file_id": str(uuid.uuid4())}, 404),
        ({"file_id": case_file["id"], "process_id": other_process.json()["id"]}, 422),
        ({"file_id": "nicht-eine-uuid"}, 422),
        ({"file_id": case_file["id"], "title": "x"}, 422),
        ({}, 422),
    ):
        assert_problem(
            await client.post(
                f"/api/v1/mailroom/items/{item_id}/file", json=body, headers=rm.headers
            ),
            code,
        )
    assert await db.counts("mail_items", "documents", "document_versions", "recorded.outbox") == (
        before
    )
    still = await client.get(f"/api/v1/mailroom/items/{item_id}", headers=rm.headers)
    assert still.json()["status"] == "in_inbox"


async def test_waiting_post_is_sent_on_to_another_inbox_by_the_mailroom_or_its_department(
    client: httpx.AsyncClient, db: DocDb, people: Personas, staff: Staff
) -> None:
    scan = pdf_bytes(f"Irrläufer {uuid.uuid4().hex}")
    item = await take_in(client, staff.records, scan, "d.pdf")
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    assert item.json()["department"] is None

    async def route(who: Persona, department: str) -> httpx.Response:
        return await client.post(
            f"/api/v1/mailroom/items/{item_id}/route",
            json={"department": department},
            headers=who.headers,
        )

    # Nobody but the mailroom sees the central inbox's items.
    assert_problem(await route(staff.bau, "bauamt"), 404)
    assert_problem(await route(people.citizen, "bauamt"), 403)
    assert_problem(await route(staff.records, "Bau Amt"), 422)
    moved = await route(staff.records, "bauamt")
    assert moved.status_code == 200, moved.text
    assert moved.json()["department"] == "bauamt"
    assert item_id in await inbox_ids(client, staff.bau, "bauamt")
    content_url = f"/api/v1/mailroom/items/{item_id}/content"
    downloaded = await client.get(content_url, headers=staff.bau.headers)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == scan
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.headers["etag"] == f'"{item.json()["sha256"]}"'
    assert_problem(await client.get(content_url, headers=staff.kasse.headers), 404)
    assert_problem(await client.get(content_url, headers=people.citizen.headers), 403)
    assert_problem(await route(staff.bau, "bauamt"), 409)
    assert_problem(await route(staff.kasse, "kaemmerei"), 404)  # not theirs (yet)
    forwarded = await route(staff.bau, "kaemmerei")
    assert forwarded.status_code == 200, forwarded.text
    assert item_id in await inbox_ids(client, staff.kasse, "kaemmerei")
    assert item_id not in await inbox_ids(client, staff.bau, "bauamt")
    assert_problem(
        await client.get(f"/api/v1/mailroom/items/{item_id}", headers=staff.bau.headers), 404
    )
    rows = await db.rows(
        "SELECT type, payload FROM recorded.outbox WHERE aggregateid = :id AND type = :t"
        " ORDER BY seq",
        id=item_id,
        t=events.MAIL_ROUTED,
    )
    assert [r["payload"]["department"] for r in rows] == [None, "bauamt", "kaemmerei"]
    assert (
        await db.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'mail.downloaded'"
            " AND detail->>'item_id' = :id",
            id=item_id,
        )
        == 1
    )
    assert (
        await db.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'mail.routed'"
            " AND detail->>'item_id' = :id",
            id=item_id,
        )
        == 2
    )
