"""The OpenAPI document tells the truth about the Open311 routes too.

The shared runtime documents every error of every operation as problem JSON
(:mod:`kommune.openapi`); the Open311 routes answer with the spec's error list instead, as JSON
or XML (by the path's format), and only with 400, 403 (``POST requests``), 404 and 500. A body
above the limit is still the edge's 413 problem. Installed after the runtime's documentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

Document = dict[str, Any]

ERRORS_SCHEMA_NAME = "Open311Errors"
ERRORS_SCHEMA: Document = {
    "title": ERRORS_SCHEMA_NAME,
    "description": "GeoReport v2 errors (as JSON; the .xml paths send <errors><error>...).",
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {
            "code": {"type": "integer", "description": "The HTTP status."},
            "description": {"type": "string", "description": "What went wrong."},
        },
    },
}
SPEC_ERRORS = {"400", "403", "404", "500"}
EDGE_PROBLEMS = {"413"}
"""Answered before the route runs (the runtime's body limit): problem JSON, as everywhere."""
SPEC_CONTENT: Document = {
    "application/json": {"schema": {"$ref": f"#/components/schemas/{ERRORS_SCHEMA_NAME}"}},
    "text/xml": {"schema": {"type": "string"}},
}


def document_open311(document: Document, prefix: str) -> Document:
    document.setdefault("components", {}).setdefault("schemas", {})[ERRORS_SCHEMA_NAME] = (
        ERRORS_SCHEMA
    )
    for path, item in document.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: Document = operation["responses"]
            answered = {"400", "404", "500"} | ({"403"} if method == "post" else set())
            for status in list(responses):
                if status.isdigit() and int(status) >= 400 and status not in EDGE_PROBLEMS:
                    del responses[status]
            for status in sorted(answered & SPEC_ERRORS):
                responses[status] = {
                    "description": "The spec's error list (JSON or XML by the path).",
                    "content": SPEC_CONTENT,
                }
            operation["responses"] = dict(sorted(responses.items()))
    return document


def install_open311_openapi(app: FastAPI, prefix: str) -> None:
    """Wrap ``app.openapi`` (already documenting problems) once; call after the runtime."""
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        document = generate()
        if not document.get("x-open311-documented"):
            document_open311(document, prefix)
            document["x-open311-documented"] = True
        return document

    app.openapi = openapi  # type: ignore[method-assign]
