"""Documents: streaming uploads into the content store, dedup, versions, limits, sniffing,
downloads with ETag and Range, and no access without access to the file."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx

from kommune.testing.service import Personas, assert_problem

from .conftest import Backend, DocDb, Staff, open_file, upload
from .samples import ELF, pdf_bytes


def stored_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"}


def temp_files(root: Path) -> list[Path]:
    return list((root / "tmp").glob("*"))


async def test_upload_download_range_and_etag(
    backend: Backend, people: Personas, staff: Staff
) -> None:
    client = backend.client
    case_file = await open_file(client, people, staff.bau)
    content = ("Bauantrag für ein Einfamilienhaus. " * 200).encode()
    response = await upload(
        client, staff.bau, case_file["id"], content, filename="antrag.txt", title="Antrag"
    )
    assert response.status_code == 201, response.text
    document = response.json()
    sha = hashlib.sha256(content).hexdigest()
    assert document["title"] == "Antrag"
    assert document["current_version"] == 1
    [version] = document["versions"]
    assert version["sha256"] == sha
    assert version["size"] == len(content)
    assert version["media_type"] == "text/plain"
    assert backend.read(sha) == content
    if backend.name == "filesystem":
        path = backend.settings.storage_path / sha[:2] / sha[2:4] / sha
        assert not path.stat().st_mode & 0o222  # write-once: read-only on disk
    assert backend.temp_files() == []

    url = f"/api/v1/documents/{document['id']}/content"
    full = await client.get(url, headers=staff.bau2.headers)
    assert full.status_code == 200
    assert full.content == content
    assert full.headers["etag"] == f'"{sha}"'
    assert full.headers["accept-ranges"] == "bytes"
    part = await client.get(url, headers={**staff.bau2.headers, "Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(content)}"
    unsatisfiable = await client.get(
        url, headers={**staff.bau2.headers, "Range": f"bytes={len(content) + 5}-"}
    )
    assert unsatisfiable.status_code == 416
    cached = await client.get(url, headers={**staff.bau2.headers, "If-None-Match": f'"{sha}"'})
    assert cached.status_code == 304
    assert cached.content == b""


async def test_new_versions_keep_the_old_ones_and_equal_content_is_stored_once(
    backend: Backend,
    people: Personas,
    staff: Staff,
    db: DocDb,
) -> None:
    client = backend.client
    case_file = await open_file(client, people, staff.bau)
    first = (await upload(client, staff.bau, case_file["id"], b"Fassung 1")).json()
    second = await client.post(
        f"/api/v1/documents/{first['id']}/versions",
        files={"content": ("b.txt", b"Fassung 2 " + uuid.uuid4().bytes.hex().encode())},
        headers=staff.bau2.headers,
    )
    assert second.status_code == 201, second.text
    assert second.json()["current_version"] == 2
    assert [v["version"] for v in second.json()["versions"]] == [1, 2]
    old = await client.get(
        f"/api/v1/documents/{first['id']}/versions/1/content", headers=staff.bau.headers
    )
    assert old.content == b"Fassung 1"
    current = await client.get(
        f"/api/v1/documents/{first['id']}/content", headers=staff.bau.headers
    )
    assert current.content.startswith(b"Fassung 2")
    assert_problem(
        await client.get(
            f"/api/v1/documents/{first['id']}/versions/3/content", headers=staff.bau.headers
        ),
        404,
    )

    # The same bytes again, in another file: a new document, no new content.
    payload = b"Gleicher Inhalt " + uuid.uuid4().hex.encode()
    other_file = await open_file(client, people, staff.kasse, code="9.2.1", title="Rechnungen")
    files_before = backend.stored()
    a = (await upload(client, staff.bau, case_file["id"], payload)).json()
    b = (await upload(client, staff.kasse, other_file["id"], payload)).json()
    assert a["deduplicated"] is False
    assert b["deduplicated"] is True
    assert a["versions"][0]["sha256"] == b["versions"][0]["sha256"]
    assert len(backend.stored() - files_before) == 1
    sha = a["versions"][0]["sha256"]
    assert await db.scalar("SELECT count(*) FROM blobs WHERE sha256 = :s", s=sha) == 1


async def test_the_type_comes_from_the_content_not_the_name(
    backend: Backend,
    people: Personas,
    staff: Staff,
    db: DocDb,
) -> None:
    client = backend.client
    case_file = await open_file(client, people, staff.bau)
    pdf = await upload(
        client, staff.bau, case_file["id"], pdf_bytes("Baugenehmigung"), filename="harmlos.txt"
    )
    assert pdf.status_code == 201, pdf.text
    assert pdf.json()["versions"][0]["media_type"] == "application/pdf"
    before = await db.snapshot()
    files_before = backend.stored()
    refused = await upload(client, staff.bau, case_file["id"], ELF, filename="bericht.pdf")
    assert_problem(refused, 415)
    assert await db.snapshot() == before
    assert backend.stored() == files_before
    assert backend.temp_files() == []


async def test_uploads_over_the_limit_and_broken_bodies_leave_nothing(
    backend: Backend,
    people: Personas,
    staff: Staff,
    db: DocDb,
) -> None:
    client, settings = backend.client, backend.settings
    case_file = await open_file(client, people, staff.bau)
    before = await db.snapshot()
    files_before = backend.stored()
    too_big = await upload(
        client, staff.bau, case_file["id"], b"a" * (settings.max_upload_bytes + 1)
    )
    assert_problem(too_big, 413)
    bad = [
        await client.post(  # no content part
            "/api/v1/documents",
            data={"file_id": case_file["id"]},
            files={"x": ("a", b"1")},
            headers=staff.bau.headers,
        ),
        await upload(client, staff.bau, "not-a-uuid", b"text"),
        await upload(client, staff.bau, case_file["id"], b"text", title="\x00x"),
        await upload(client, staff.bau, case_file["id"], b"text", process_id=str(uuid.uuid4())),
        await upload(client, staff.bau, case_file["id"], b"text", unknown="1"),
        await client.post(  # cut off: no closing boundary
            "/api/v1/documents",
            content=b"--xyz\r\nContent-Disposition: form-data; "
            b'name="content"; filename="a"\r\n\r\nabc',
            headers={**staff.bau.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
        ),
        await client.post(
            "/api/v1/documents",
            content=b"garbage",
            headers={**staff.bau.headers, "Content-Type": "multipart/form-data"},
        ),
    ]
    for response in bad:
        assert_problem(response, 422)
    as_json = await client.post(
        "/api/v1/documents", json={"file_id": case_file["id"]}, headers=staff.bau.headers
    )
    assert_problem(as_json, 415)
    missing_file = await upload(client, staff.bau, str(uuid.uuid4()), b"text")
    assert_problem(missing_file, 404)
    assert await db.snapshot() == before
    assert backend.stored() == files_before
    assert backend.temp_files() == []


async def test_documents_of_files_you_cannot_read_do_not_exist_for_you(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    case_file = await open_file(client, people, staff.bau)
    document = (await upload(client, staff.bau, case_file["id"], b"Geheimer Plan")).json()
    for who in (staff.kasse, staff.staff_bau, people.operator):
        for path in ("", "/content", "/versions/1/content"):
            assert_problem(
                await client.get(f"/api/v1/documents/{document['id']}{path}", headers=who.headers),
                404,
            )
        listed = await client.get(
            "/api/v1/documents", params={"file_id": case_file["id"]}, headers=who.headers
        )
        assert listed.json()["items"] == []
        assert_problem(
            await client.post(
                f"/api/v1/documents/{document['id']}/versions",
                files={"content": ("x", b"overwrite")},
                headers=who.headers,
            ),
            404 if "caseworker" in who.roles else 403,
        )
    assert_problem(
        await client.get(f"/api/v1/documents/{document['id']}", headers=people.citizen.headers),
        403,
    )
    denied = await db.rows(
        "SELECT action FROM audit_events WHERE document_id = :id AND actor = :a"
        " AND outcome = 'denied'",
        id=uuid.UUID(document["id"]),
        a=staff.kasse.sub,
    )
    assert {"document.read", "document.downloaded"} <= {r["action"] for r in denied}
    listed = await client.get(
        "/api/v1/documents", params={"file_id": case_file["id"]}, headers=staff.records.headers
    )
    assert [d["id"] for d in listed.json()["items"]] == [document["id"]]
    events = await db.rows(
        "SELECT type, payload FROM recorded.outbox WHERE aggregateid = :id", id=document["id"]
    )
    assert [e["type"] for e in events] == ["de.kommune.documents.document.version_added.v1"]
    assert "Geheimer" not in str(events[0]["payload"])


async def test_an_email_is_filed_with_its_attachments_as_child_documents(
    client: httpx.AsyncClient, people: Personas, staff: Staff, db: DocDb
) -> None:
    from email.message import EmailMessage

    marker = uuid.uuid4().hex[:8]
    message = EmailMessage()
    message["From"] = "Bauherr <bauherr@example.org>"
    message["To"] = "bauamt@heidenheim.de"
    message["Subject"] = f"Nachreichung {marker}"
    message.set_content("Anbei die fehlenden Unterlagen.")
    message.add_attachment(
        pdf_bytes(f"Statik {marker}"), maintype="application", subtype="pdf", filename="statik.pdf"
    )
    message.add_attachment(
        f"Liste {marker}".encode(), maintype="text", subtype="plain", filename="liste.txt"
    )
    message.add_attachment(ELF, maintype="application", subtype="octet-stream", filename="x.exe")
    case_file = await open_file(client, people, staff.bau)
    response = await upload(
        client, staff.bau, case_file["id"], message.as_bytes(), filename="mail.eml"
    )
    assert response.status_code == 201, response.text
    email_document = response.json()
    assert email_document["versions"][0]["media_type"] == "message/rfc822"
    children = {a["title"]: a for a in email_document["attachments"]}
    assert set(children) == {"statik.pdf", "liste.txt"}  # the executable stays in the e-mail
    statik = children["statik.pdf"]
    assert statik["parent_id"] == email_document["id"]
    assert statik["file_id"] == case_file["id"]
    content = await client.get(
        f"/api/v1/documents/{statik['id']}/content", headers=staff.bau.headers
    )
    assert content.headers["content-type"] == "application/pdf"
    assert content.content.startswith(b"%PDF")
    again = await client.get(f"/api/v1/documents/{email_document['id']}", headers=staff.bau.headers)
    assert {a["id"] for a in again.json()["attachments"]} == {c["id"] for c in children.values()}
    found = await client.get(
        "/api/v1/search", params={"q": f"Statik {marker}"}, headers=staff.bau.headers
    )
    assert [h["document_id"] for h in found.json()["items"]] == [statik["id"]]
    assert_problem(
        await client.get(f"/api/v1/documents/{statik['id']}", headers=staff.kasse.headers), 404
    )
