"""Search: German stemming, parts of compound words, file numbers, snippets, and only what the
caller may read."""

from __future__ import annotations

import uuid

import httpx

from kommune.testing.service import Personas, assert_problem

from .conftest import DocDb, Staff, open_file, upload
from .samples import XML_BOMB, XML_EXTERNAL, docx_bytes, email_bytes, pdf_bytes


async def hits(client: httpx.AsyncClient, who: object, q: str) -> list[dict[str, str]]:
    response = await client.get("/api/v1/search", params={"q": q}, headers=who.headers)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()["items"]
    return items


async def test_text_is_extracted_and_found_by_stem_substring_and_file_number(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    marker = uuid.uuid4().hex[:8]
    case_file = await open_file(client, people, staff.bau, code="6.1", title="Bebauungsplan")
    documents = {
        "docx": docx_bytes(f"Die Bebauungspläne {marker} liegen öffentlich aus."),
        "pdf": pdf_bytes(f"Strassenreinigungsgebuehren Satzung {marker}"),
        "eml": email_bytes(f"Einwendung {marker}", "Ich erhebe Einwendungen gegen den Lärmschutz."),
        "xml": f"<antrag><betreff>Kanalanschluss {marker}</betreff></antrag>".encode(),
        "txt": f"Protokoll der Anliegerversammlung {marker}".encode(),
    }
    ids = {}
    for name, content in documents.items():
        response = await upload(client, staff.bau, case_file["id"], content, filename=f"a.{name}")
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]

    stemmed = await hits(client, staff.bau, f"Bebauungsplan {marker}")
    assert [h["document_id"] for h in stemmed] == [ids["docx"]]
    assert "<mark>" in stemmed[0]["snippet"]
    assert stemmed[0]["file_number"] == case_file["file_number"]
    compound = await hits(client, staff.bau, "reinigungsgebuehren")
    assert ids["pdf"] in [h["document_id"] for h in compound]
    assert [h["document_id"] for h in await hits(client, staff.bau, f"Einwendung {marker}")] == [
        ids["eml"]
    ]
    assert [
        h["document_id"] for h in await hits(client, staff.bau, f"Kanalanschluss {marker}")
    ] == [ids["xml"]]
    by_number = await hits(client, staff.bau, case_file["file_number"])
    assert set(ids.values()) <= {h["document_id"] for h in by_number}


async def test_search_shows_only_what_the_caller_may_read(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    marker = uuid.uuid4().hex[:10]
    case_file = await open_file(client, people, staff.bau)
    await upload(client, staff.bau, case_file["id"], f"Vertraulich {marker}".encode())
    assert len(await hits(client, staff.bau2, marker)) == 1
    assert len(await hits(client, staff.records, marker)) == 1
    for who in (staff.kasse, staff.staff_bau, people.staff):
        assert await hits(client, who, marker) == []
        assert await hits(client, who, case_file["file_number"]) == []
    assert_problem(
        await client.get("/api/v1/search", params={"q": marker}, headers=people.citizen.headers),
        403,
    )


async def test_snippets_are_escaped_and_bad_queries_refused(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    marker = uuid.uuid4().hex[:10]
    case_file = await open_file(client, people, staff.bau)
    await upload(
        client,
        staff.bau,
        case_file["id"],
        f"Hinweis {marker}: <script>alert(1)</script>".encode(),
        filename="x.txt",
    )
    [hit] = await hits(client, staff.bau, marker)
    assert "<script>" not in hit["snippet"]
    for q in ("", "x", "a" * 201, "\x00abc"):
        response = await client.get("/api/v1/search", params={"q": q}, headers=staff.bau.headers)
        assert_problem(response, 422)
    odd = await hits(client, staff.bau, '"unclosed & | ! ( % _ \\')
    assert isinstance(odd, list)


async def test_hostile_xml_is_stored_but_never_expanded(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    case_file = await open_file(client, people, staff.bau)
    for content in (XML_BOMB, XML_EXTERNAL):
        response = await upload(client, staff.bau, case_file["id"], content, filename="a.xml")
        assert response.status_code == 201, response.text
        text = await db.scalar(
            "SELECT content_text FROM documents WHERE id = :id", id=uuid.UUID(response.json()["id"])
        )
        assert text == ""
        assert "root:" not in text
