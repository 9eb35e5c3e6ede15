"""Acceptance: the ``georeport`` client from PyPI against the service on a real HTTP port.

The client (0.3.1) lists services, reads definitions and requests; it has no method to post
(its README says so), so the report is posted with ``requests`` — the HTTP library the client
itself uses — exactly as the spec's example request, form-encoded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import requests
import xmltodict
from georeport import GeoReport

from kommune.testing.servers import RunningServer
from kommune_egov.main import create_app
from kommune_egov.settings import EgovSettings

from .conftest import Personas

DAMAGE_CODES = {
    "graffiti",
    "illegal_dumping",
    "overflowing_bin",
    "playground_damage",
    "pothole",
    "street_light_out",
}


@pytest_asyncio.fixture(loop_scope="session")
async def endpoint(
    settings: EgovSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[str]:
    """The service under uvicorn on a loopback port: its Open311 root URL."""
    quiet = settings.model_copy(
        update={"relay_enabled": False, "consumers_enabled": False, "catalogue_sync_enabled": False}
    )
    async with RunningServer(create_app(quiet, http_transport=issuer_transport)) as server:
        yield f"{server.url}/open311/v2"


@pytest_asyncio.fixture(loop_scope="session")
async def app_key(client: httpx.AsyncClient, people: Personas) -> str:
    response = await client.post(
        "/api/v1/open311/clients",
        json={"name": f"Schadensmelder {uuid.uuid4().hex[:6]}"},
        headers=people.admin.headers,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def post_report(root: str, api_key: str) -> requests.Response:
    """The spec's example request, for a pothole with attributes."""
    return requests.post(
        f"{root}/requests.json",
        data={
            "api_key": api_key,
            "jurisdiction_id": "heidenheim.de",
            "service_code": "pothole",
            "lat": "48.6779",
            "long": "10.1517",
            "address_string": "Hauptstraße 1, 89522 Heidenheim an der Brenz",
            "email": "buerger@example.org",
            "first_name": "Max",
            "last_name": "Muster",
            "description": "Großes Schlagloch am Fußgängerüberweg.",
            "media_url": "https://example.org/schlagloch.jpg",
            "attribute[surface]": "road",
            "attribute[size]": "large",
            "attribute[hazard]": "yes",
        },
        timeout=10,
    )


async def test_the_georeport_client_lists_reads_and_finds_a_posted_report(
    endpoint: str, app_key: str
) -> None:
    def scenario() -> dict[str, Any]:
        as_json = GeoReport(endpoint, jurisdiction="heidenheim.de", api_key=app_key)
        as_xml = GeoReport(endpoint, api_key=app_key, output_format="xml")
        found: dict[str, Any] = {
            "json_services": as_json.get_service_list(),
            "xml_services": as_xml.get_service_list(),
            "json_definition": as_json.get_service_definition("pothole"),
            "xml_definition": as_xml.get_service_definition("pothole"),
        }
        posted = post_report(endpoint, app_key)
        found["posted"] = (posted.status_code, posted.json())
        request_id = str(posted.json()[0]["service_request_id"])
        found["json_request"] = as_json.get_service_request(request_id)
        found["xml_request"] = as_xml.get_service_request(request_id)
        found["json_requests"] = as_json.get_service_requests(
            service_request_id=request_id, service_code="pothole", status="open"
        )
        return found

    found = await asyncio.to_thread(scenario)
    assert {s["service_code"] for s in found["json_services"]} == DAMAGE_CODES
    assert {s["service_code"] for s in found["xml_services"]} == DAMAGE_CODES
    assert {s["metadata"] for s in found["xml_services"]} == {"true"}

    attributes = {a["code"]: a for a in found["json_definition"]["attributes"]}
    assert attributes["surface"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in attributes["surface"]["values"]} == {"road", "cycle_path", "pavement"}
    xml_attributes = found["xml_definition"]["attributes"]["attribute"]
    assert {a["code"] for a in xml_attributes} == set(attributes)

    status, body = found["posted"]
    assert status == 201
    request_id = body[0]["service_request_id"]
    assert isinstance(request_id, int)

    read = found["json_request"]
    assert read["service_request_id"] == request_id
    assert (read["status"], read["service_code"]) == ("open", "pothole")
    assert read["description"] == "Großes Schlagloch am Fußgängerüberweg."
    assert read["address"] == "Hauptstraße 1, 89522 Heidenheim an der Brenz"
    assert read["media_url"] == "https://example.org/schlagloch.jpg"
    xml_read = found["xml_request"]
    assert xml_read["service_request_id"] == str(request_id)
    assert xml_read["lat"] == "48.6779"
    assert [r["service_request_id"] for r in found["json_requests"]] == [request_id]


async def test_a_wrong_api_key_is_403_in_the_spec_format(endpoint: str) -> None:
    def post_wrongly() -> tuple[requests.Response, requests.Response]:
        as_json = post_report(endpoint, "not-the-key")
        as_xml = requests.post(
            f"{endpoint}/requests.xml",
            data={
                "api_key": "not-the-key",
                "service_code": "pothole",
                "lat": "48.6",
                "long": "10.1",
            },
            timeout=10,
        )
        return as_json, as_xml

    as_json, as_xml = await asyncio.to_thread(post_wrongly)
    assert as_json.status_code == 403
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    [error] = as_json.json()
    assert error["code"] == 403
    assert "api_key" in error["description"]
    assert as_xml.status_code == 403
    parsed = xmltodict.parse(as_xml.content)
    assert parsed["errors"]["error"]["code"] == "403"
    assert "api_key" in parsed["errors"]["error"]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_client_sees_http_errors_for_unknown_things(endpoint: str, fmt: str) -> None:
    def unknown() -> None:
        client = GeoReport(endpoint, output_format=fmt)
        with pytest.raises(requests.HTTPError) as raised:
            client.get_service_definition("no_such_service")
        response = raised.value.response
        assert response is not None
        assert response.status_code == 404

    await asyncio.to_thread(unknown)
