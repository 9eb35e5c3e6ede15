"""The OpenAPI document tells the truth about errors.

Every operation documents the problems it can answer (derived once, in ``kommune.openapi``)
as ``application/problem+json`` with the ``Problem`` schema; real error responses of a sample
of operations are validated against the schema the document gives for that status.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import jsonschema
import pytest

from kommune.schemas import STARTED_IN_YEAR

from .conftest import Api, Personas, idea_body

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


async def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 30
    for method, path, operation in operations:
        responses = operation["responses"]
        expected = {"400", "500"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if "{" in path:
            expected.add("404")
        if method in ("post", "put", "patch", "delete"):
            expected.add("409")
        if operation.get("requestBody"):
            expected |= {"413", "422"}
        if operation.get("parameters"):
            expected.add("422")
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if int(status) >= 400:
                content = response["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
    # Every ideas endpoint needs a token.
    assert all(op.get("security") for _, path, op in operations if path.startswith("/api/"))
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "errors" in schemas["Problem"]["properties"]


async def test_enforced_constraints_are_in_the_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("IdeaUpdate", "FaqUpdate", "EntryUpdate", "MeetingUpdate", "AgendaItemUpdate"):
        assert schemas[name]["minProperties"] == 1, name
    # null is refused for these fields, so the schema does not offer it.
    title = schemas["IdeaUpdate"]["properties"]["title"]
    assert "anyOf" not in title
    assert title["type"] == "string"
    # ...but a field that may be cleared keeps it.
    location = schemas["MeetingUpdate"]["properties"]["location"]
    assert {"type": "null"} in location["anyOf"]
    # Non-blank text without control characters.
    pattern = schemas["IdeaCreate"]["properties"]["title"]["pattern"]
    assert re.match(pattern, "Rechnungen digital")
    for bad in ("   ", "a\x00b", "a\nb", ""):
        assert not re.match(pattern, bad), bad
    scheduled = schemas["MeetingCreate"]["properties"]["scheduled_at"]
    assert scheduled["format"] == "date-time"
    years = re.compile(scheduled["pattern"])
    assert years.match(f"{STARTED_IN_YEAR + 5}-12-31T23:59:59-14:00")
    assert not years.match(f"{STARTED_IN_YEAR + 6}-01-01T00:00:00Z")
    assert not years.match("0001-01-01T00:00:00+14:00")
    # Rules across fields: a reason only with (and always with) a rejection; an agenda item
    # names an idea or a title.
    assert len(schemas["StatusChange"]["oneOf"]) == 2
    assert len(schemas["OutcomeCreate"]["oneOf"]) == 2
    assert len(schemas["AgendaItemCreate"]["anyOf"]) == 2
    limit = next(
        p for p in document["paths"]["/api/v1/ideas"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["minimum"] == 1
    assert limit["schema"]["maximum"] == 100


def _problem_validator(document: dict[str, Any], method: str, path: str, status: int) -> Any:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    schema = responses[str(status)]["content"]["application/problem+json"]["schema"]
    resolver_root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(
        resolver_root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


async def test_real_error_responses_match_the_documented_schema(
    api: Api,
    client: httpx.AsyncClient,
    people: Personas,
    document: dict[str, Any],
) -> None:
    idea = await api.create_idea()
    missing = uuid.uuid4()
    await client.post(f"/api/v1/ideas/{idea['id']}/endorsement", headers=people.staff.headers)
    samples: list[tuple[str, str, str, dict[str, Any]]] = [
        # (method, template, concrete path, request kwargs)
        ("get", "/api/v1/ideas", "/api/v1/ideas", {}),  # 401
        (
            "post",
            "/api/v1/ideas",
            "/api/v1/ideas",
            {"json": idea_body(api.department["id"]), "as": "citizen"},
        ),  # 403
        ("get", "/api/v1/ideas/{idea_id}", f"/api/v1/ideas/{missing}", {"as": "staff"}),  # 404
        (
            "post",
            "/api/v1/ideas/{idea_id}/endorsement",
            f"/api/v1/ideas/{idea['id']}/endorsement",
            {"as": "staff"},
        ),  # 409
        (
            "post",
            "/api/v1/ideas",
            "/api/v1/ideas",
            {"content": b'{"title": "' + b"x" * 2_000_000 + b'"}', "as": "change_agent"},
        ),  # 413
        (
            "post",
            "/api/v1/ideas",
            "/api/v1/ideas",
            {"json": {"title": "a\x00b"}, "as": "change_agent"},
        ),  # 422 validation, errors[]
        (
            "get",
            "/api/v1/ideas",
            "/api/v1/ideas",
            {"params": {"sort": "relevance"}, "as": "staff"},
        ),  # 422 domain rule, field
        ("patch", "/api/v1/ideas/{idea_id}", f"/api/v1/ideas/{idea['id']}", {"json": {}}),
    ]
    seen: set[int] = set()
    for method, template, path, options in samples:
        persona = options.pop("as", None)
        headers = people.by_name(persona).headers if persona else {}
        if "content" in options:
            headers = {**headers, "content-type": "application/json"}
        if template.endswith("{idea_id}") and method == "patch":
            headers = people.change_agent.headers
        response = await client.request(method.upper(), path, headers=headers, **options)
        status = response.status_code
        assert status >= 400, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        validator = _problem_validator(document, method, template, status)
        body = response.json()
        validator.validate(body)
        assert body["status"] == status
        assert body["request_id"] == response.headers["x-request-id"]
        seen.add(status)
    assert {401, 403, 404, 409, 413, 422} <= seen
