"""Open311 GeoReport v2: discovery, services, definitions, reports (form and multipart), the
search filters, the duplicate hint, API keys and the spec's error format, in JSON and XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from .conftest import Db, Personas

V2 = "/open311/v2"
CLIENTS = "/api/v1/open311/clients"
DAMAGE_CODES = {
    "graffiti",
    "illegal_dumping",
    "overflowing_bin",
    "playground_damage",
    "pothole",
    "street_light_out",
}
# A place in Heidenheim an der Brenz (Rathaus); each test moves away from it by its own offset.
LAT, LONG = 48.6761, 10.1523
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


NO_POTHOLE: dict[str, Any] = {
    "attribute[surface]": None,
    "attribute[size]": None,
    "attribute[depth_cm]": None,
}
"""Leaves out the pothole attributes of :func:`report` (for another service's report)."""


def spec_errors(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The response is the spec's error list with ``status`` (JSON or XML, by the path)."""
    assert response.status_code == status, response.text
    if response.request.url.path.endswith(".json"):
        assert response.headers["content-type"].startswith("application/json")
        body: list[dict[str, Any]] = response.json()
    else:
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
        root = ET.fromstring(response.content)  # noqa: S314 - our own output
        assert root.tag == "errors"
        body = [
            {"code": int(e.findtext("code", "0")), "description": e.findtext("description")}
            for e in root.findall("error")
        ]
    assert body, "an error list is never empty"
    assert all(entry["code"] == status and entry["description"] for entry in body)
    return body


def somewhere(offset_m: float = 0.0) -> tuple[float, float]:
    """A unique spot (per call) about 2 km apart from any other, moved north by ``offset_m``."""
    spot = uuid.uuid4().int % 100_000
    lat = LAT + (spot % 300) * 0.02 + offset_m / 111_195.0
    long = LONG + (spot // 300) * 0.003
    return lat, long


@pytest_asyncio.fixture(loop_scope="session")
async def api_key(client: httpx.AsyncClient, people: Personas) -> str:
    response = await client.post(
        CLIENTS,
        json={"name": f"Mängelmelder-App {uuid.uuid4().hex[:6]}"},
        headers=people.admin.headers,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def report(key: str | None, **fields: Any) -> dict[str, Any]:
    lat, long = somewhere()
    body: dict[str, Any] = {
        "api_key": key,
        "service_code": "pothole",
        "lat": str(lat),
        "long": str(long),
        "description": "Tiefes Loch vor der Bushaltestelle.",
        "email": "melder@example.org",
        "first_name": "Erika",
        "last_name": "Mustermann",
        "phone": "+49 7321 1234",
        "attribute[surface]": "road",
        "attribute[size]": "medium",
        "attribute[depth_cm]": "12",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def post_report(
    client: httpx.AsyncClient, data: dict[str, Any], fmt: str = "json"
) -> httpx.Response:
    return await client.post(f"{V2}/requests.{fmt}", data=data)


# ---- discovery, services, definitions ---------------------------------------------------------


async def test_discovery_names_the_endpoint_and_both_formats(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{V2}/discovery.json")).json()
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    xml = await client.get(f"{V2}/discovery.xml")
    root = ET.fromstring(xml.content)  # noqa: S314
    assert [f.text for f in root.iter("format")] == ["text/xml", "application/json"]


async def test_services_are_the_damage_report_categories(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V2}/services.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()
    assert {s["service_code"] for s in services} == DAMAGE_CODES
    pothole = next(s for s in services if s["service_code"] == "pothole")
    assert pothole["service_name"] == "Schlagloch"
    assert (pothole["metadata"], pothole["type"]) == (True, "realtime")
    assert "schaden" in pothole["keywords"]
    assert pothole["group"] == "Tiefbauamt"
    xml = await client.get(f"{V2}/services.xml")
    assert xml.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(xml.content)  # noqa: S314
    assert root.tag == "services"
    assert {s.findtext("service_code") for s in root.findall("service")} == DAMAGE_CODES
    assert {s.findtext("metadata") for s in root.findall("service")} == {"true"}


async def test_a_definition_lists_the_form_as_attributes(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{V2}/services/pothole.json")).json()
    assert body["service_code"] == "pothole"
    attributes = {a["code"]: a for a in body["attributes"]}
    assert "description" not in attributes  # that is the request's own field
    assert [a["order"] for a in body["attributes"]] == list(range(1, len(attributes) + 1))
    surface = attributes["surface"]
    assert (surface["datatype"], surface["required"], surface["variable"]) == (
        "singlevaluelist",
        True,
        True,
    )
    assert {"key": "road", "name": "Fahrbahn"} in surface["values"]
    assert attributes["depth_cm"]["datatype"] == "number"
    assert attributes["depth_cm"]["required"] is False
    dumping = (await client.get(f"{V2}/services/illegal_dumping.json")).json()
    waste = next(a for a in dumping["attributes"] if a["code"] == "waste_types")
    assert waste["datatype"] == "multivaluelist"
    xml = await client.get(f"{V2}/services/pothole.xml")
    root = ET.fromstring(xml.content)  # noqa: S314
    assert root.tag == "service_definition"
    keys = [v.findtext("key") for v in root.iter("value")]
    assert "road" in keys


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_services_formats_and_jurisdictions(
    client: httpx.AsyncClient, fmt: str
) -> None:
    for code in ("no_such_service", "resident_parking_permit"):  # an application is no report
        spec_errors(await client.get(f"{V2}/services/{code}.{fmt}"), 404)
    spec_errors(await client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "x.org"}), 404)
    assert (
        await client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "heidenheim.de"})
    ).status_code == 200
    spec_errors(await client.get(f"{V2}/requests/123456789.{fmt}"), 404)
    spec_errors(await client.get(f"{V2}/requests/not-a-number.{fmt}"), 404)
    spec_errors(await client.get(f"{V2}/tokens/12345.{fmt}"), 404)
    response = await client.get(f"{V2}/services.csv")
    assert response.status_code == 404
    assert response.text.startswith("<?xml")


# ---- posting reports -------------------------------------------------------------------------


async def test_a_report_becomes_an_application_in_the_caseworkers_queue(
    client: httpx.AsyncClient, api_key: str, db: Db
) -> None:
    data = report(api_key, media_url="https://example.org/fotos/loch.jpg", account_id="acc-7")
    response = await post_report(client, data)
    assert response.status_code == 201, response.text
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] == "acc-7"
    assert "Tiefbauamt" in created["service_notice"]
    request_id = created["service_request_id"]
    [row] = await db.rows(
        "SELECT a.origin, a.status, a.department, a.kind, a.data, a.contact_email,"
        " a.applicant_name, a.latitude, r.media_url, r.phone FROM open311_reports r"
        " JOIN applications a ON a.id = r.application_id WHERE r.service_request_id = :id",
        id=request_id,
    )
    assert (row["origin"], row["status"], row["department"], row["kind"]) == (
        "open311",
        "submitted",
        "tiefbau",
        "damage_report",
    )
    assert row["data"] == {
        "surface": "road",
        "size": "medium",
        "depth_cm": 12,
        "description": "Tiefes Loch vor der Bushaltestelle.",
    }
    assert (row["contact_email"], row["applicant_name"]) == (
        "melder@example.org",
        "Erika Mustermann",
    )
    assert row["media_url"] == "https://example.org/fotos/loch.jpg"  # stored, never fetched
    # Read back, in both formats; the reporter's contact is not public.
    [entry] = (await client.get(f"{V2}/requests/{request_id}.json")).json()
    assert (entry["status"], entry["service_code"], entry["service_name"]) == (
        "open",
        "pothole",
        "Schlagloch",
    )
    assert entry["lat"] == pytest.approx(float(data["lat"]))
    assert entry["media_url"] == "https://example.org/fotos/loch.jpg"
    assert entry["agency_responsible"] == "Tiefbauamt"
    for moment in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(entry[moment]).tzinfo is not None
    as_text = str(entry)
    for private in ("melder@example.org", "Mustermann", "7321", "acc-7"):
        assert private not in as_text
    xml = await client.get(f"{V2}/requests/{request_id}.xml")
    root = ET.fromstring(xml.content)  # noqa: S314
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == str(request_id)
    assert root.findtext("request/status") == "open"
    # The XML answer of a POST has the same shape.
    posted = await post_report(client, report(api_key), "xml")
    assert posted.status_code == 201
    root = ET.fromstring(posted.content)  # noqa: S314
    assert root.findtext("request/service_request_id", "").isdigit()


async def test_a_multivaluelist_and_an_address_instead_of_coordinates(
    client: httpx.AsyncClient, api_key: str, db: Db
) -> None:
    data = report(
        api_key,
        service_code="illegal_dumping",
        lat=None,
        long=None,
        address_string="Schnaitheimer Straße 12, 89520 Heidenheim",
        **NO_POTHOLE,
    )
    body = [
        *data.items(),
        ("attribute[waste_types][]", "bulky"),
        ("attribute[waste_types][]", "tyres"),
        ("attribute[volume]", "car_load"),
    ]
    response = await client.post(
        f"{V2}/requests.json",
        content=urlencode(body).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    request_id = response.json()[0]["service_request_id"]
    [row] = await db.rows(
        "SELECT a.data, a.address FROM open311_reports r JOIN applications a"
        " ON a.id = r.application_id WHERE r.service_request_id = :id",
        id=request_id,
    )
    assert row["data"]["waste_types"] == ["bulky", "tyres"]
    assert row["address"] == "Schnaitheimer Straße 12, 89520 Heidenheim"


async def test_a_photo_as_multipart_media(client: httpx.AsyncClient, api_key: str, db: Db) -> None:
    response = await client.post(
        f"{V2}/requests.json",
        data=report(api_key),
        files={"media": ("loch.png", PNG, "image/png")},
    )
    assert response.status_code == 201, response.text
    request_id = response.json()[0]["service_request_id"]
    [row] = await db.rows(
        "SELECT t.content_type, t.size FROM open311_reports r JOIN attachments t"
        " ON t.application_id = r.application_id WHERE r.service_request_id = :id",
        id=request_id,
    )
    assert (row["content_type"], row["size"]) == ("image/png", len(PNG))
    before = await db.counts("applications", "open311_reports", "attachments")
    refused = await client.post(
        f"{V2}/requests.json",
        data=report(api_key),
        files={"media": ("loch.png", b"#!/bin/sh\necho not a photo\n", "image/png")},
    )
    spec_errors(refused, 400)
    assert await db.counts("applications", "open311_reports", "attachments") == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_api_keys_are_checked_first(
    client: httpx.AsyncClient, api_key: str, people: Personas, db: Db, fmt: str
) -> None:
    before = await db.counts("applications", "open311_reports")
    [missing] = spec_errors(await post_report(client, report(api_key, api_key=None), fmt), 403)
    assert "api_key" in missing["description"]
    [wrong] = spec_errors(await post_report(client, report(api_key, api_key="wrong"), fmt), 403)
    assert "Invalid api_key" in wrong["description"]
    # Even with a body that is not valid at all, the key is checked first.
    spec_errors(await post_report(client, {"api_key": "wrong", "lat": "x"}, fmt), 403)
    # A bearer token is not an api_key.
    response = await client.post(
        f"{V2}/requests.{fmt}", data=report(api_key, api_key=None), headers=people.admin.headers
    )
    spec_errors(response, 403)
    assert await db.counts("applications", "open311_reports") == before


async def test_revoked_keys_no_longer_work_and_only_admins_issue_keys(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    issued = await client.post(CLIENTS, json={"name": "Kurzzeit-App"}, headers=people.admin.headers)
    key, client_id = issued.json()["api_key"], issued.json()["id"]
    assert key.startswith("o311_")
    assert len(key) >= 40
    [stored] = await db.rows(
        "SELECT key_hash, key_hint FROM open311_clients WHERE id = :id", id=uuid.UUID(client_id)
    )
    assert key not in str(stored)
    assert stored["key_hint"] == key[:8]
    assert (await post_report(client, report(key))).status_code == 201
    revoked = await client.delete(f"{CLIENTS}/{client_id}", headers=people.admin.headers)
    assert revoked.status_code == 204
    spec_errors(await post_report(client, report(key)), 403)
    assert (
        await client.delete(f"{CLIENTS}/{client_id}", headers=people.admin.headers)
    ).status_code == 409
    for persona in (people.citizen, people.caseworker, people.operator):
        response = await client.post(CLIENTS, json={"name": "x-app"}, headers=persona.headers)
        assert response.status_code == 403
    assert (await client.post(CLIENTS, json={"name": "x-app"})).status_code == 401
    missing = await client.delete(f"{CLIENTS}/{uuid.uuid4()}", headers=people.admin.headers)
    assert missing.status_code == 404
    for bad in ({"name": ""}, {"name": "x" * 201}, {"name": "App", "api_key": "mine"}):
        refused = await client.post(CLIENTS, json=bad, headers=people.admin.headers)
        assert refused.status_code == 422
    listed = await client.get(CLIENTS, headers=people.admin.headers, params={"limit": 100})
    assert all("api_key" not in item for item in listed.json()["items"])


@pytest.mark.parametrize(
    ("fields", "status", "names"),
    [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "no_such_service"}, 404, "service_code"),
        ({"service_code": "resident_parking_permit"}, 404, "service_code"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"long": None}, 400, "lat and long"),
        ({"lat": "91"}, 400, "lat"),
        ({"lat": "nan"}, 400, "lat"),
        ({"attribute[surface]": "moon"}, 400, "attribute[surface]"),
        ({"attribute[surface]": None}, 400, "attribute[surface]"),
        ({"attribute[depth_cm]": "tief"}, 400, "attribute[depth_cm]"),
        ({"attribute[depth_cm]": "500"}, 400, "attribute[depth_cm]"),
        ({"attribute[colour]": "red"}, 400, "attribute[colour]"),
        ({"description": "x" * 4001}, 400, "description"),
        ({"description": "Loch\x00"}, 400, "description"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url"),
        ({"email": "kein-at-zeichen"}, 400, "email"),
        ({"jurisdiction_id": "munich.de"}, 404, "jurisdiction_id"),
    ],
)
async def test_bad_reports_are_refused_and_change_nothing(
    client: httpx.AsyncClient, api_key: str, db: Db, fields: dict[str, Any], status: int, names: str
) -> None:
    before = await db.counts("applications", "open311_reports")
    errors = spec_errors(await post_report(client, report(api_key, **fields)), status)
    assert any(names in e["description"] for e in errors), errors
    assert await db.counts("applications", "open311_reports") == before


# ---- searching -------------------------------------------------------------------------------


async def test_search_filters_and_pages(client: httpx.AsyncClient, api_key: str, db: Db) -> None:
    lat, long = somewhere()
    ids: list[int] = []
    for code, attributes in (
        ("graffiti", {"attribute[surface]": "bridge", "attribute[offensive]": "no"}),
        ("graffiti", {"attribute[surface]": "bus_stop", "attribute[offensive]": "yes"}),
        ("overflowing_bin", {"attribute[bin_type]": "litter_bin"}),
    ):
        data = report(
            api_key,
            service_code=code,
            lat=str(lat),
            long=str(long + len(ids) * 0.01),
            **(NO_POTHOLE | attributes),
        )
        response = await post_report(client, data)
        assert response.status_code == 201, response.text
        ids.append(response.json()[0]["service_request_id"])
    wanted = ",".join(str(i) for i in ids)
    found = (await client.get(f"{V2}/requests.json", params={"service_request_id": wanted})).json()
    assert sorted(r["service_request_id"] for r in found) == sorted(ids)
    graffiti = (
        await client.get(
            f"{V2}/requests.json",
            params={"service_code": "graffiti", "status": "open", "page_size": "1000"},
        )
    ).json()
    assert set(ids[:2]) <= {r["service_request_id"] for r in graffiti}
    assert ids[2] not in {r["service_request_id"] for r in graffiti}
    # Close the bin report (as a caseworker's workflow would) and filter by status.
    await execute(
        db,
        "UPDATE applications SET status = 'completed' WHERE id = (SELECT"
        " application_id FROM open311_reports WHERE service_request_id = :id)",
        id=ids[2],
    )
    closed = (await client.get(f"{V2}/requests.json", params={"status": "closed"})).json()
    assert ids[2] in {r["service_request_id"] for r in closed}
    assert all(r["status"] == "closed" for r in closed)
    # Pages: newest first, page_size per page, no overlap.
    first = (await client.get(f"{V2}/requests.json", params={"page_size": "2"})).json()
    second = (
        await client.get(f"{V2}/requests.json", params={"page_size": "2", "page": "2"})
    ).json()
    assert len(first) == 2
    assert not {r["service_request_id"] for r in first} & {r["service_request_id"] for r in second}
    assert first[0]["requested_datetime"] >= first[1]["requested_datetime"]
    # A window in the past holds none of them.
    old = (
        await client.get(
            f"{V2}/requests.json",
            params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-02-01T00:00:00+01:00"},
        )
    ).json()
    assert not {r["service_request_id"] for r in old} & set(ids)
    xml = await client.get(f"{V2}/requests.xml", params={"service_request_id": wanted})
    root = ET.fromstring(xml.content)  # noqa: S314
    assert len(root.findall("request")) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00"},
        {"end_date": "yesterday"},
        {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"status": "pending"},
        {"service_request_id": "1,abc"},
        {"page": "0"},
        {"page_size": "1001"},
    ],
)
async def test_bad_search_filters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    spec_errors(await client.get(f"{V2}/requests.json", params=params), 400)
    spec_errors(await client.get(f"{V2}/requests.xml", params=params), 400)


# ---- the duplicate hint ----------------------------------------------------------------------


async def test_a_second_report_nearby_is_linked_to_the_open_first(
    client: httpx.AsyncClient, api_key: str, db: Db
) -> None:
    lat, long = somewhere()
    first = await post_report(client, report(api_key, lat=str(lat), long=str(long)))
    first_id = first.json()[0]["service_request_id"]
    # 30 m north: the same damage.
    near = await post_report(client, report(api_key, lat=str(lat + 30 / 111_195), long=str(long)))
    near_id = near.json()[0]["service_request_id"]
    assert str(first_id) in near.json()[0]["service_notice"]
    # 80 m away, another service at the same spot: not linked.
    far = await post_report(client, report(api_key, lat=str(lat + 80 / 111_195), long=str(long)))
    other = await post_report(
        client,
        report(
            api_key,
            service_code="street_light_out",
            lat=str(lat),
            long=str(long),
            **(NO_POTHOLE | {"attribute[problem]": "dark"}),
        ),
    )
    links = {
        r["service_request_id"]: r["duplicate_of"]
        for r in await db.rows(
            "SELECT service_request_id, duplicate_of FROM open311_reports"
            " WHERE service_request_id = ANY(:ids)",
            ids=[
                first_id,
                near_id,
                far.json()[0]["service_request_id"],
                other.json()[0]["service_request_id"],
            ],
        )
    }
    assert links[near_id] == first_id
    assert links[first_id] is None
    assert links[far.json()[0]["service_request_id"]] is None
    assert links[other.json()[0]["service_request_id"]] is None
    [shown] = (await client.get(f"{V2}/requests/{near_id}.json")).json()
    assert str(first_id) in shown["service_notice"]
    # Once the first is closed, a new report there is not linked to it.
    await execute(
        db,
        "UPDATE applications SET status = 'completed' WHERE id = (SELECT"
        " application_id FROM open311_reports WHERE service_request_id = :id)",
        id=first_id,
    )
    later = await post_report(client, report(api_key, lat=str(lat), long=str(long)))
    assert str(first_id) not in later.json()[0]["service_notice"]


async def test_reports_older_than_two_weeks_are_not_linked(
    client: httpx.AsyncClient, api_key: str, db: Db
) -> None:
    lat, long = somewhere()
    first = await post_report(client, report(api_key, lat=str(lat), long=str(long)))
    first_id = first.json()[0]["service_request_id"]
    await execute(
        db,
        "UPDATE applications SET submitted_at = :at WHERE id = (SELECT"
        " application_id FROM open311_reports WHERE service_request_id = :id)",
        id=first_id,
        at=datetime.now(UTC) - timedelta(days=15),
    )
    again = await post_report(client, report(api_key, lat=str(lat), long=str(long)))
    assert str(first_id) not in again.json()[0]["service_notice"]


async def execute(db: Db, sql: str, **params: Any) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def test_the_openapi_document_shows_the_spec_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith(V2)
        for method, operation in item.items()
    ]
    assert len(operations) == 7
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "422" not in responses, path
        assert "401" not in responses, path
        bad = responses["400"]["content"]
        assert bad["application/json"]["schema"]["$ref"].endswith("/Open311Errors"), path
        assert "text/xml" in bad
        assert ("403" in responses) == (method == "post"), path
    assert "201" in document["paths"][f"{V2}/requests.{{fmt}}"]["post"]["responses"]
