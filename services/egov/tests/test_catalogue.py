"""The public service catalogue: every seeded service, its versioned form, the announcement."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator

from kommune_egov.catalogue.definitions import CATALOGUE, DAMAGE_REPORT_CODES

from .conftest import Db, Personas, assert_problem

SEEDED = {
    "resident_parking_permit": "Bewohnerparkausweis",
    "dog_registration": "Hundeanmeldung",
    "business_registration": "Gewerbeanmeldung",
    "business_deregistration": "Gewerbeabmeldung",
    "landlord_certificate": "Wohnungsgeberbestätigung",
    "heavy_transport_permit": "Schwertransport",
    "kindergarten_place": "Kita-Platz",
    "building_application": "Bauantrag",
}
DAMAGE = {
    "pothole",
    "street_light_out",
    "illegal_dumping",
    "graffiti",
    "playground_damage",
    "overflowing_bin",
}


async def all_services(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 5, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/services", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_anyone_lists_the_catalogue_page_by_page(client: httpx.AsyncClient) -> None:
    services = await all_services(client)
    by_code = {s["code"]: s for s in services}
    assert {code: by_code[code]["name"] for code in SEEDED} == SEEDED
    assert set(by_code) >= DAMAGE
    assert set(DAMAGE_REPORT_CODES) == DAMAGE
    assert "schoolyard_check" not in by_code  # internal work orders are not listed
    assert [s["code"] for s in services] == sorted(by_code)  # no repeats, stable order
    dog = by_code["dog_registration"]
    assert dog["name_en"] == "Dog registration"
    assert dog["description"]
    assert dog["description_en"]
    assert dog["department"] == {"code": "buergeramt", "name": "Bürgeramt"}
    assert dog["processing_days"] > 0
    assert dog["form_version"] == 1
    assert "form" not in dog
    business = by_code["business_registration"]
    assert business["leika_key"] == "99050012104000"
    assert business["fee"] == {"amount_cents": 3500, "currency": "EUR", "note": "35 €"}
    assert {"code", "name", "name_en", "required"} <= set(business["required_attachments"][0])


async def test_filter_by_kind(client: httpx.AsyncClient) -> None:
    damage = await all_services(client, kind="damage_report")
    assert {s["code"] for s in damage} == DAMAGE
    assert all(s["needs_location"] for s in damage)


async def test_a_service_has_a_versioned_json_schema_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/services/dog_registration")
    assert response.status_code == 200, response.text
    form = response.json()["form"]
    Draft202012Validator.check_schema(form)
    assert form["$id"].endswith("/forms/dog_registration/v1.json")
    assert form["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "chip_number" in form["required"]
    assert form["properties"]["owner"]["properties"]["date_of_birth"]["format"] == "date"
    assert form["properties"]["dog_name"]["title"] == "Name des Hundes"
    # The order of the properties is the order of the form (stored as JSON text, not JSONB).
    definition = next(d for d in CATALOGUE if d.code == "dog_registration")
    assert list(form["properties"]) == list(definition.form["properties"])


async def test_every_form_is_a_valid_schema(client: httpx.AsyncClient) -> None:
    for code in [*SEEDED, *DAMAGE]:
        response = await client.get(f"/api/v1/services/{code}")
        assert response.status_code == 200, code
        Draft202012Validator.check_schema(response.json()["form"])


async def test_unknown_and_unlisted_services_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/services/no_such_service"), 404)
    assert_problem(await client.get("/api/v1/services/schoolyard_check"), 404)


async def test_bad_input_is_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/services/Bad Code!"), 422)
    assert_problem(await client.get("/api/v1/services", params={"kind": "nope"}), 422)
    assert_problem(await client.get("/api/v1/services", params={"cursor": "forged.abc"}), 422)
    assert_problem(await client.get("/api/v1/services", params={"limit": 0}), 422)


async def test_a_token_is_not_needed_but_accepted(
    client: httpx.AsyncClient, people: Personas
) -> None:
    response = await client.get("/api/v1/services", headers=people.citizen.headers)
    assert response.status_code == 200


async def test_each_listed_service_was_announced_once(client: httpx.AsyncClient, db: Db) -> None:
    rows = await db.rows(
        "SELECT aggregateid, payload FROM recorded.outbox"
        " WHERE type = 'de.kommune.egov.service.published.v1'"
    )
    listed = [d for d in CATALOGUE if d.listed]
    assert len(rows) == len(listed)
    names = {row["payload"]["name"] for row in rows}
    assert names == {d.name_de for d in listed}


async def test_an_admin_publishes_a_new_form_version(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    code = "heavy_transport_permit"
    before = (await client.get(f"/api/v1/services/{code}")).json()
    new_form = dict(before["form"])
    new_form["properties"] = {
        **new_form["properties"],
        "axle_count": {"type": "integer", "title": "Anzahl der Achsen", "minimum": 2},
    }
    response = await client.post(
        f"/api/v1/services/{code}/forms", json={"form": new_form}, headers=people.admin.headers
    )
    assert response.status_code == 201, response.text
    published = response.json()
    version = before["form_version"] + 1
    assert published["form_version"] == version
    assert published["form"]["$id"].endswith(f"/forms/{code}/v{version}.json")
    after = (await client.get(f"/api/v1/services/{code}")).json()
    assert after["form"]["properties"]["axle_count"]["title"] == "Anzahl der Achsen"
    # The old version stays stored: applications name the version they were validated against.
    assert (
        await db.scalar(
            "SELECT count(*) FROM service_forms f JOIN services s ON s.id = f.service_id"
            " WHERE s.code = :code",
            code=code,
        )
        == version
    )


async def test_publishing_a_form_is_for_admins_and_checks_the_schema(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    url = "/api/v1/services/business_deregistration/forms"
    good = {"form": {"type": "object", "properties": {"x": {"type": "string"}}}}
    before = await db.counts("service_forms")
    for persona in (people.citizen, people.caseworker, people.operator):
        assert_problem(await client.post(url, json=good, headers=persona.headers), 403)
    assert_problem(await client.post(url, json=good), 401)
    bad_forms: list[Any] = [
        {"type": "object", "properties": {"x": {"type": "no-such-type"}}},
        {"type": "string"},
        {"type": "object"},
        "not an object",
    ]
    for bad in bad_forms:
        response = await client.post(url, json={"form": bad}, headers=people.admin.headers)
        assert_problem(response, 422)
    assert_problem(
        await client.post(
            "/api/v1/services/no_such_service/forms", json=good, headers=people.admin.headers
        ),
        404,
    )
    assert await db.counts("service_forms") == before
