"""E-invoices: every official XRechnung test invoice is accepted, broken ones name their rules,
hostile XML does no harm, duplicates are recognised, the approval workflow goes in order."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from kommune.testing.service import Personas, assert_problem

from .conftest import DocDb, Staff

SUITE = Path(__file__).resolve().parent / "data" / "xrechnung-testsuite"  # in the repository
INVOICES = sorted(SUITE.glob("*.xml"))
XML = {"Content-Type": "application/xml"}


def _unique_copy(data: bytes) -> bytes:
    """The same invoice as other bytes (a comment): a new upload, not the same content."""
    return data.replace(b"?>", f"?><!-- {uuid.uuid4()} -->".encode(), 1)


def _with_number(data: bytes, number: str) -> bytes:
    return re.sub(
        rb"(<cbc:ID>)123456XX(</cbc:ID>)", rb"\g<1>" + number.encode() + rb"\g<2>", data, count=1
    )


async def post(client: httpx.AsyncClient, staff: Staff, data: bytes) -> httpx.Response:
    return await client.post(
        "/api/v1/invoices", content=data, headers={**staff.records.headers, **XML}
    )


def test_the_shared_suite_is_there() -> None:
    assert len(INVOICES) == 66


async def test_every_official_test_invoice_is_accepted(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    for path in INVOICES:
        response = await post(client, staff, _unique_copy(path.read_bytes()))
        assert response.status_code in (200, 201), f"{path.name}: {response.text}"
        body = response.json()
        assert body["syntax"] == ("ubl" if "_ubl" in path.name else "cii")
        assert body["invoice_number"]
        assert body["status"] == "received"
        assert not [w for w in body["warnings"] if w["flag"] in ("fatal", "error")]


async def test_terms_filing_and_the_same_bytes_again(
    client: httpx.AsyncClient, staff: Staff, db: DocDb
) -> None:
    data = _with_number(
        SUITE.joinpath("01.01a-INVOICE_ubl.xml").read_bytes(), uuid.uuid4().hex[:12]
    )
    first = await post(client, staff, data)
    assert first.status_code == 201, first.text
    invoice = first.json()
    assert invoice["currency"] == "EUR"
    assert invoice["buyer_reference"] == "04011000-12345-03"
    assert invoice["total_net"] == "314.86"
    assert invoice["total_gross"] == "336.90"
    assert invoice["issue_date"] == "2016-04-04"
    assert invoice["seller_name"] == "[Seller name]"
    assert invoice["possible_duplicate"] is False
    filed = await client.get(
        f"/api/v1/documents/{invoice['document_id']}/content", headers=staff.records.headers
    )
    assert filed.content == data
    case_file = await client.get(
        f"/api/v1/files/{invoice['file_id']}", headers=staff.records.headers
    )
    assert case_file.json()["file_number"].startswith("9.2.1/")
    before = await db.snapshot()
    again = await post(client, staff, data)
    assert again.status_code == 200
    assert again.json()["id"] == invoice["id"]
    assert await db.snapshot() == before

    # Same seller and number, other content: filed too, flagged with a reference.
    other = await post(client, staff, data.replace(b"314.86", b"314.86", 1) + b"\n")
    assert other.status_code == 201, other.text
    assert other.json()["possible_duplicate"] is True
    assert other.json()["possible_duplicate_of"] == invoice["id"]
    outbox = await db.rows(
        "SELECT type FROM recorded.outbox WHERE aggregateid = :id", id=other.json()["id"]
    )
    assert [o["type"] for o in outbox] == ["de.kommune.documents.invoice.received.v1"]


@pytest.mark.parametrize(
    ("name", "element"),
    [
        ("01.01a-INVOICE_ubl.xml", rb"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>"),
        ("01.01a-INVOICE_uncefact.xml", rb"<ram:BuyerReference>[^<]*</ram:BuyerReference>"),
    ],
)
async def test_an_invoice_without_buyer_reference_names_br_de_15(
    client: httpx.AsyncClient, staff: Staff, db: DocDb, name: str, element: bytes
) -> None:
    data = re.sub(element, b"", SUITE.joinpath(name).read_bytes())
    before = await db.snapshot()
    body = assert_problem(await post(client, staff, data), 422)
    rules = {e["rule"] for e in body["errors"]}
    assert "BR-DE-15" in rules
    assert all(e["message"] for e in body["errors"])
    assert await db.snapshot() == before


async def test_hostile_and_broken_xml_is_refused_without_harm(
    client: httpx.AsyncClient, staff: Staff, db: DocDb
) -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol3;</Invoice>"""
    external = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&secret;</Invoice>"""
    before = await db.snapshot()
    for data in (bomb, external, b"<not-closed>", b"", b"<html/>"):
        response = await post(client, staff, data)
        body = assert_problem(response, 422)
        assert "root:" not in response.text
        assert "lollol" not in str(body)
    assert_problem(
        await client.post(
            "/api/v1/invoices",
            content=INVOICES[0].read_bytes(),
            headers={**staff.records.headers, "Content-Type": "text/plain"},
        ),
        415,
    )
    assert await db.snapshot() == before


async def test_the_approval_workflow_goes_in_order(
    client: httpx.AsyncClient, staff: Staff, db: DocDb
) -> None:
    data = _with_number(
        SUITE.joinpath("01.02a-INVOICE_ubl.xml").read_bytes(), uuid.uuid4().hex[:12]
    )
    invoice = (await post(client, staff, data)).json()
    url = f"/api/v1/invoices/{invoice['id']}/status"
    assert_problem(
        await client.post(url, json={"status": "released"}, headers=staff.records.headers), 409
    )
    for step in ("factually_checked", "arithmetically_checked", "released", "exported"):
        response = await client.post(url, json={"status": step}, headers=staff.records.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == step
    assert_problem(
        await client.post(url, json={"status": "exported"}, headers=staff.records.headers), 409
    )
    assert_problem(
        await client.post(url, json={"status": "paid"}, headers=staff.records.headers), 422
    )
    steps = await db.rows(
        "SELECT detail->>'to' AS step FROM audit_events WHERE action = 'invoice.status_changed'"
        " AND detail->>'invoice_id' = :id ORDER BY id",
        id=invoice["id"],
    )
    assert [s["step"] for s in steps] == [
        "factually_checked",
        "arithmetically_checked",
        "released",
        "exported",
    ]
    events = await db.rows(
        "SELECT type FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq", id=invoice["id"]
    )
    assert len(events) == 5


async def test_only_records_managers_and_admins_handle_invoices(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    before = await db.snapshot()
    for who in (staff.kasse, people.staff, people.operator, people.citizen, people.caseworker):
        response = await client.post(
            "/api/v1/invoices", content=INVOICES[0].read_bytes(), headers={**who.headers, **XML}
        )
        assert_problem(response, 403)
        assert_problem(await client.get("/api/v1/invoices", headers=who.headers), 403)
    assert await db.snapshot() == before
    listed = await client.get("/api/v1/invoices", headers=people.admin.headers)
    assert listed.status_code == 200
    assert_problem(
        await client.get(f"/api/v1/invoices/{uuid.uuid4()}", headers=people.admin.headers), 404
    )


async def test_the_einvoice_inbox_hands_in_invoices_and_nothing_else(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    """The service account of the city's e-invoice inbox (role ``invoice_inbox`` only): hands in
    invoices (201, the same bytes again 200, broken ones 422), but reads nothing back and takes
    no approval step; every refusal is a 403 problem that changes nothing."""
    inbox = people.invoice_inbox
    number = uuid.uuid4().hex[:12]
    data = _with_number(SUITE.joinpath("01.01a-INVOICE_ubl.xml").read_bytes(), number)

    handed_in = await client.post(
        "/api/v1/invoices", content=data, headers={**inbox.headers, **XML}
    )
    assert handed_in.status_code == 201, handed_in.text
    invoice = handed_in.json()
    assert invoice["invoice_number"] == number
    assert invoice["status"] == "received"
    received = await db.rows(
        "SELECT actor, actor_roles FROM audit_events WHERE action = 'invoice.received'"
        " AND detail->>'invoice_id' = :id",
        id=invoice["id"],
    )
    assert received == [{"actor": inbox.sub, "actor_roles": "invoice_inbox"}]
    again = await client.post("/api/v1/invoices", content=data, headers={**inbox.headers, **XML})
    assert again.status_code == 200
    assert again.json()["id"] == invoice["id"]

    before = {**await db.snapshot(), **await db.counts("invoices", "audit_events")}
    broken = re.sub(rb"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>", b"", data)
    assert "BR-DE-15" in {
        e["rule"]
        for e in assert_problem(
            await client.post(
                "/api/v1/invoices", content=_unique_copy(broken), headers={**inbox.headers, **XML}
            ),
            422,
        )["errors"]
    }
    refused = [
        ("GET", "/api/v1/invoices", None),
        ("GET", f"/api/v1/invoices/{invoice['id']}", None),
        ("POST", f"/api/v1/invoices/{invoice['id']}/status", {"status": "factually_checked"}),
        ("GET", f"/api/v1/search?q={number}", None),
        ("GET", "/api/v1/files", None),
        ("GET", f"/api/v1/files/{invoice['file_id']}", None),
        ("GET", f"/api/v1/files/{invoice['file_id']}/audit", None),
        ("GET", f"/api/v1/documents/{invoice['document_id']}", None),
        ("GET", f"/api/v1/documents/{invoice['document_id']}/content", None),
        ("GET", "/api/v1/fileplan", None),
        ("GET", "/api/v1/mailroom/inbox", None),
    ]
    for method, path, body in refused:
        response = await client.request(method, path, json=body, headers=inbox.headers)
        assert_problem(response, 403)
    assert {**await db.snapshot(), **await db.counts("invoices", "audit_events")} == before

    # Nothing moved: the records manager still takes the first step.
    stepped = await client.post(
        f"/api/v1/invoices/{invoice['id']}/status",
        json={"status": "factually_checked"},
        headers=staff.records.headers,
    )
    assert stepped.status_code == 200, stepped.text
