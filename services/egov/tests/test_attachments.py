"""Uploads: type sniffed from the bytes, size limits, attached once, readable only by the case."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from .conftest import PDF, PNG, Api, Cast, Db, Personas, assert_problem, snapshot


def parking_data() -> dict[str, Any]:
    return {
        "applicant": {"first_name": "Lena", "last_name": "Hofmann", "date_of_birth": "1988-04-12"},
        "address": {
            "street": "Schlossstraße",
            "house_number": "3",
            "postcode": "89518",
            "city": "Heidenheim an der Brenz",
        },
        "zone": "zone_b",
        "licence_plate": "HDH-LH 1988",
        "vehicle_holder": "own",
        "valid_from": "2026-12-01",
    }


async def test_upload_then_attach_at_submit(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    uploaded = await api.upload(PDF, cast.citizen, filename="../../etc/Fahrzeugschein.PDF")
    assert uploaded["content_type"] == "application/pdf"
    assert uploaded["filename"] == "Fahrzeugschein.pdf"
    assert uploaded["sha256"] == hashlib.sha256(PDF).hexdigest()
    created = await api.submit(
        "resident_parking_permit",
        parking_data(),
        attachments=[{"id": uploaded["id"], "code": "vehicle_registration"}],
    )
    assert created["department"] == "ordnungsamt"
    assert [a["id"] for a in created["attachments"]] == [uploaded["id"]]
    # The caseworker of the department reads it; another citizen does not.
    download = await client.get(
        f"/api/v1/attachments/{uploaded['id']}", headers=cast.ordnungsamt.headers
    )
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert_problem(
        await client.get(
            f"/api/v1/attachments/{uploaded['id']}", headers=cast.other_citizen.headers
        ),
        404,
    )
    # Attached once: it cannot be attached to a second application.
    again = await client.post(
        "/api/v1/applications",
        json={
            "service_code": "resident_parking_permit",
            "data": parking_data(),
            "attachments": [{"id": uploaded["id"], "code": "vehicle_registration"}],
        },
        headers=cast.citizen.headers,
    )
    assert_problem(again, 422)


async def test_required_and_foreign_attachments_are_422(
    api: Api, cast: Cast, client: httpx.AsyncClient, db: Db
) -> None:
    theirs = await api.upload(PDF, cast.other_citizen)
    mine = await api.upload(PNG, cast.citizen, filename="foto.png")
    before = await snapshot(db)
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([], "vehicle_registration"),  # the required document is missing
        ([{"id": theirs["id"], "code": "vehicle_registration"}], "id"),  # not yours
        ([{"id": mine["id"], "code": "passport_photo"}], "code"),  # not a document of the service
    ]
    for attachments, field in cases:
        response = await client.post(
            "/api/v1/applications",
            json={
                "service_code": "resident_parking_permit",
                "data": parking_data(),
                "attachments": attachments,
            },
            headers=cast.citizen.headers,
        )
        problem = assert_problem(response, 422)
        assert any(field in map(str, e["loc"]) for e in problem["errors"]), problem
    assert await snapshot(db) == before


async def test_type_is_sniffed_and_size_is_limited(
    api: Api, cast: Cast, client: httpx.AsyncClient, db: Db, people: Personas
) -> None:
    before = await snapshot(db)
    # An HTML page named .pdf with a PDF content type is still HTML.
    response = await client.post(
        "/api/v1/attachments",
        files={
            "file": ("rechnung.pdf", b"<html><script>alert(1)</script></html>", "application/pdf")
        },
        headers=cast.citizen.headers,
    )
    assert_problem(response, 415)
    response = await client.post(
        "/api/v1/attachments",
        files={"file": ("leer.pdf", b"", "application/pdf")},
        headers=cast.citizen.headers,
    )
    assert_problem(response, 422)
    too_big = PDF + b"0" * (10 * 1024 * 1024)
    response = await client.post(
        "/api/v1/attachments",
        files={"file": ("gross.pdf", too_big, "application/pdf")},
        headers=cast.citizen.headers,
    )
    assert_problem(response, 413)
    response = await client.post(
        "/api/v1/attachments", data={"not_a_file": "x"}, headers=cast.citizen.headers
    )
    assert_problem(response, 422)
    for persona in (people.staff, people.nobody, people.operator):
        response = await client.post(
            "/api/v1/attachments",
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers=persona.headers,
        )
        assert_problem(response, 403)
    assert await snapshot(db) == before


async def test_the_permit_reaches_the_mailbox(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    created = await api.submit()
    await api.move(created["id"], "acknowledged", cast.buergeramt)
    permit = await api.upload(PDF, cast.buergeramt, filename="Steuerbescheid.pdf")
    # Another caseworker's upload cannot be attached by this one.
    foreign = await api.upload(PDF, cast.ordnungsamt)
    await api.move(
        created["id"], "approved", cast.buergeramt, attachment_id=foreign["id"], expect=422
    )
    await api.move(created["id"], "approved", cast.buergeramt, attachment_id=permit["id"])
    [message] = await api.mailbox(cast.citizen, application_id=created["id"], unread=True, limit=1)
    assert message["attachment_id"] == permit["id"]
    download = await client.get(f"/api/v1/attachments/{permit['id']}", headers=cast.citizen.headers)
    assert download.status_code == 200
    assert download.content == PDF
