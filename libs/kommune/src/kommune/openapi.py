"""The OpenAPI document tells the truth about errors, for every app built on the runtime.

FastAPI documents 2xx and a 422 with its own ``HTTPValidationError`` body, which is not what a
Kommune service sends. :func:`install_problem_openapi` post-processes the generated document
once (it is cached), deriving from each operation which problems it can answer:

========  =====================================================================================
status    documented on
========  =====================================================================================
400       every operation (a request the HTTP layer cannot read: bad ``Content-Length``, a body
          that is not UTF-8)
401, 403  operations with a security requirement (no or invalid token; a token without the role)
404       operations with path parameters (the resource does not exist or is not visible)
409       ``POST``/``PUT``/``PATCH``/``DELETE`` (the current state does not allow the change)
413       operations with a request body (above the body limit)
422       operations with parameters or a body (validation, or a domain rule on the input)
500       every operation (an unexpected error, logged with the request id)
503       operations with a security requirement (the identity provider cannot be reached)
========  =====================================================================================

Each of them is ``application/problem+json`` with the ``Problem`` schema (what
:mod:`kommune.errors` really sends, ``errors[]`` included); a status a route declares itself
(``responses={...}``) gets the same content. FastAPI's ``HTTPValidationError`` and
``ValidationError`` components go away once nothing refers to them.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from kommune.errors import PROBLEM_JSON, PROBLEM_TYPE_BASE

Document = dict[str, Any]

PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_REF = f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

PROBLEM_SCHEMA: Document = {
    "title": "Problem",
    "description": "An RFC 9457 problem: every error of the platform has this shape. Domain "
    "errors may add members of their own (e.g. `field`, `current_status`).",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri",
            "description": f"`{PROBLEM_TYPE_BASE}<code>`.",
        },
        "title": {"type": "string", "description": "Short, fixed text of the problem kind."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$",
            "description": "Machine-readable kind, e.g. `validation_failed`, `not_found`.",
        },
        "detail": {"type": "string", "description": "What went wrong in this case."},
        "instance": {"type": "string", "description": "The request path."},
        "request_id": {
            "type": "string",
            "description": "The request's `X-Request-ID`; quote it to the operators.",
        },
        "field": {"type": "string", "description": "The input field a domain rule refused."},
        "errors": {
            "type": "array",
            "description": "Request validation (422): one entry per refused input.",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        "description": "Where: `body`/`query`/`path`/`header`, then the field.",
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string", "description": "Error kind, e.g. `missing`."},
                },
            },
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS: dict[int, str] = {
    400: "The request could not be read (malformed body or header).",
    401: "No valid bearer token.",
    403: "The token does not allow this.",
    404: "Not found (or not visible to you).",
    409: "The current state does not allow this.",
    413: "The body is larger than this endpoint accepts.",
    422: "The input is invalid; `errors[]` lists each refused field.",
    500: "Unexpected error; logged with the request id.",
    503: "A service this request needs (e.g. the identity provider) is unavailable.",
}


def problem_statuses(method: str, path: str, operation: Document) -> set[int]:
    """The error statuses an operation can answer, derived from its shape."""
    statuses = {400, 500}
    if operation.get("security"):
        statuses |= {401, 403, 503}
    if "{" in path:
        statuses.add(404)
    if method in UNSAFE_METHODS:
        statuses.add(409)
    if operation.get("requestBody"):
        statuses |= {413, 422}
    if operation.get("parameters"):
        statuses.add(422)
    return statuses


def _problem_response(status: int, existing: Document | None) -> Document:
    description = (existing or {}).get("description")
    if not description or description == "Validation Error":
        description = DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
    response: Document = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "`Bearer`: how to authenticate.",
                "schema": {"type": "string"},
            }
        }
    return response


def document_problems(document: Document) -> Document:
    """Add the problem responses to every operation of ``document`` (in place; returned)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if str(code).isdigit()}
            for status in sorted(problem_statuses(method, path, operation) | declared):
                if status < 400:
                    continue
                key = str(status)
                responses[key] = _problem_response(status, responses.get(key))
            operation["responses"] = dict(sorted(responses.items()))
    _drop_unreferenced(document, schemas)
    return document


def _drop_unreferenced(document: Document, schemas: Document) -> None:
    for name in FASTAPI_VALIDATION_SCHEMAS:
        if name not in schemas:
            continue
        ref = f"#/components/schemas/{name}"
        others = {
            key: value for key, value in schemas.items() if key not in FASTAPI_VALIDATION_SCHEMAS
        }
        if not _refers_to(document.get("paths", {}), ref) and not _refers_to(others, ref):
            del schemas[name]


def _refers_to(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_refers_to(value, ref) for value in node.values())
    if isinstance(node, list):
        return any(_refers_to(value, ref) for value in node)
    return False


def install_problem_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) document the problems (once, cached)."""
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
