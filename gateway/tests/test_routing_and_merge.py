"""The routing table and the OpenAPI merge as plain functions."""

from __future__ import annotations

from typing import Any

import pytest

from kommune_gateway.openapi import merge_documents
from kommune_gateway.routes import ROUTES, Route, RoutingTable, match_route


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/v1/ideas", "ideas"),
        ("/api/v1/ideas/123/comments", "ideas"),
        ("/api/v1/meetings/1", "ideas"),
        ("/api/v1/documents/abc", "documents"),
        ("/open311/v2/requests.json", "egov"),
        ("/sta/v1.1/Things", "sensors"),
        ("/api/v1/waste/collection-plan", "sensors"),
        ("/api/v1/traffic/summary", "sensors"),
        ("/api/v1/social/districts", "sensors"),
        ("/api/v1/opendata/catalog", "sensors"),
        ("/api/v1/ideasx", None),
        ("/api/v1/ideasX/1", None),
        ("/api/v1/ideas/", "ideas"),
        ("/api/v1", None),
        ("/", None),
    ],
)
def test_longest_prefix_decides(path: str, upstream: str | None) -> None:
    route = match_route(path)
    assert (route.upstream if route else None) == upstream


def test_more_specific_route_wins() -> None:
    routes = (Route("/api/v1/egov", "egov"), Route("/api/v1/egov/uploads", "documents"))
    match = match_route("/api/v1/egov/uploads/1", routes)
    assert match is not None
    assert match.upstream == "documents"


def test_only_open311_and_catalogue_reads_are_public() -> None:
    open311 = match_route("/open311/v2/services.json")
    assert open311 is not None
    assert open311.is_public("GET")
    assert not open311.is_public("POST")
    # POST requests carries the client app's api_key, which egov checks (no bearer token).
    for fmt in ("json", "xml"):
        posting = match_route(f"/open311/v2/requests.{fmt}")
        assert posting is not None
        assert posting.upstream == "egov"
        assert posting.is_public("POST")
        assert not posting.is_public("DELETE")
    # Public /api/ reads: the egov catalogue and the appointment slots and locations (issue 8),
    # the sensors' open data (issue 10); every other /api/ route needs a token.
    public_api = {r.prefix for r in ROUTES if r.prefix.startswith("/api/") and r.public_methods}
    assert public_api == {
        "/api/v1/services",
        "/api/v1/appointments/slots",
        "/api/v1/appointments/locations",
        "/api/v1/opendata",
    }
    assert all(r.public_methods == {"GET", "HEAD"} for r in ROUTES if r.prefix in public_api)
    booking = match_route("/api/v1/appointments")
    assert booking is not None
    assert not booking.is_public("POST")
    assert not booking.is_public("GET")
    catalogue = match_route("/api/v1/services/dog_registration")
    assert catalogue is not None
    assert catalogue.is_public("GET")
    assert not catalogue.is_public("POST")


def test_invalid_prefixes_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        Route("api/v1/x", "x")
    with pytest.raises(ValueError, match="prefix"):
        Route("/api/v1/x/", "x")


def test_body_limits_come_from_the_table() -> None:
    limits = RoutingTable(ROUTES).body_limits(default=1024)
    assert limits["/api/v1/documents"] > 1024 * 1024
    assert limits["/api/v1/ideas"] == 1024


def test_a_nested_route_gets_its_own_limit_not_its_parents() -> None:
    # /api/v1/egov/uploads belongs to another service: egov's 25 MiB must not leak into it.
    table = RoutingTable(
        (Route("/api/v1/egov", "egov", max_body_bytes=25), Route("/api/v1/egov/uploads", "docs"))
    )
    assert table.body_limits(default=7) == {"/api/v1/egov": 25, "/api/v1/egov/uploads": 7}


def test_a_prefix_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        RoutingTable((Route("/api/v1/x", "a"), Route("/api/v1/x", "b")))


def test_routes_are_tried_longest_first() -> None:
    table = RoutingTable((Route("/a", "x"), Route("/a/b/c", "y"), Route("/a/b", "z")))
    assert [r.prefix for r in table.longest_first()] == ["/a/b/c", "/a/b", "/a"]


def _doc(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def test_clashing_components_are_prefixed_and_refs_rewritten() -> None:
    ref = {"$ref": "#/components/schemas/Status"}
    a = _doc(
        {"/a": {"get": {"responses": {"200": {"content": {"x": {"schema": ref}}}}}}},
        {"Status": {"type": "string", "enum": ["open"]}},
    )
    b = _doc(
        {"/b": {"get": {"responses": {"200": {"content": {"x": {"schema": ref}}}}}}},
        {
            "Status": {"type": "integer"},
            "Wrapper": {"properties": {"s": {"$ref": "#/components/schemas/Status"}}},
        },
    )
    merged = merge_documents([("ideas", a), ("documents", b)], title="t", version="1")
    schemas = merged["components"]["schemas"]
    assert schemas["Status"] == {"type": "string", "enum": ["open"]}
    assert schemas["Documents_Status"] == {"type": "integer"}
    assert schemas["Wrapper"]["properties"]["s"]["$ref"] == "#/components/schemas/Documents_Status"
    b_schema = merged["paths"]["/b"]["get"]["responses"]["200"]["content"]["x"]["schema"]
    assert b_schema["$ref"] == "#/components/schemas/Documents_Status"
    a_schema = merged["paths"]["/a"]["get"]["responses"]["200"]["content"]["x"]["schema"]
    assert a_schema["$ref"] == "#/components/schemas/Status"
    # The inputs are not modified.
    assert b["components"]["schemas"]["Wrapper"]["properties"]["s"] == ref


def test_identical_components_are_shared() -> None:
    shared = {"type": "object", "properties": {"detail": {"type": "string"}}}
    merged = merge_documents(
        [("ideas", _doc({}, {"Problem": shared})), ("egov", _doc({}, {"Problem": dict(shared)}))],
        title="t",
        version="1",
    )
    assert set(merged["components"]["schemas"]) == {"Problem"}


def test_a_component_referring_to_a_renamed_one_is_renamed_too() -> None:
    """Same text, different meaning: ``Page`` points at each service's own ``Status``."""
    page = {"properties": {"items": {"items": {"$ref": "#/components/schemas/Status"}}}}
    ref = {"$ref": "#/components/schemas/Page"}
    responses = {"200": {"content": {"application/json": {"schema": ref}}}}
    a = _doc(
        {"/a": {"get": {"responses": responses}}}, {"Status": {"enum": ["open"]}, "Page": page}
    )
    b = _doc({"/b": {"get": {"responses": responses}}}, {"Status": {"enum": [1]}, "Page": page})
    merged = merge_documents([("ideas", a), ("egov", b)], title="t", version="1")
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Status", "Page", "Egov_Status", "Egov_Page"}
    egov_items = schemas["Egov_Page"]["properties"]["items"]["items"]
    assert egov_items == {"$ref": "#/components/schemas/Egov_Status"}
    assert schemas["Page"] == page
    b_schema = merged["paths"]["/b"]["get"]["responses"]["200"]["content"]["application/json"]
    assert b_schema["schema"] == {"$ref": "#/components/schemas/Egov_Page"}
    a_schema = merged["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]
    assert a_schema["schema"] == ref


def test_renames_follow_chains_of_references() -> None:
    """``List → Page → Status``: the clash at the end of the chain renames the whole chain."""
    schemas = {
        "List": {"properties": {"page": {"$ref": "#/components/schemas/Page"}}},
        "Page": {"properties": {"s": {"$ref": "#/components/schemas/Status"}}},
        "Shared": {"type": "string"},
    }
    a = _doc({}, {**schemas, "Status": {"type": "string"}})
    b = _doc({}, {**schemas, "Status": {"type": "integer"}})
    merged = merge_documents([("ideas", a), ("egov", b)], title="t", version="1")
    names = set(merged["components"]["schemas"])
    assert {"Egov_List", "Egov_Page", "Egov_Status", "Shared"} <= names
    assert "Egov_Shared" not in names
