"""Domain errors carry their HTTP status; one set of handlers renders every error as RFC 9457.

Services raise the subclasses below from ``service.py``; routers never build error responses.

Every problem body has ``type``, ``title``, ``status`` and ``code``; ``detail`` and ``instance``
when known; ``request_id`` (the ``X-Request-ID`` of the response, to quote to an operator) while
a request is handled; a 422 from request validation lists ``errors[]`` (``loc``, ``msg``,
``type``), a domain error may add its own members (``field``, ``current_status``...). The
OpenAPI document describes exactly this shape (:mod:`kommune.openapi`). An error nobody
expected becomes a logged 500 with a fixed text: no SQL, no stack trace, no input echoed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kommune.telemetry.context import request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://kommune.heidenheim.de/problems/"


class DomainError(Exception):
    """Base of every error a user can cause; ``status_code`` and ``code`` make the problem."""

    status_code: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"
    title = "Invalid input"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
    title = "Payload too large"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id is not None:
        body["request_id"] = request_id
    body.update(extensions)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}) or None
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return problem_response(
        exc.status_code,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=headers,
        **exc.extensions,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(part: object) -> str | int:
    """A ``loc`` element safe to send: UTF-8 cannot encode a lone surrogate (e.g. in the name
    of an unknown field), so it becomes U+FFFD instead of failing the error response."""
    if isinstance(part, int) and not isinstance(part, bool):
        return part
    return _SURROGATE.sub("\ufffd", str(part))


def validation_errors(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    """``errors[]`` of a 422: where (``loc``, e.g. ``["body", "title"]``), what, and its kind.

    For the request FastAPI validated, and for what a handler validates itself (form fields of a
    multipart upload, a SensorThings entity): the same shape, the caller's text made printable.
    """
    found = (
        exc.errors(include_url=False, include_input=False)
        if isinstance(exc, ValidationError)
        else exc.errors()
    )
    return [
        {
            "loc": [_printable(part) for part in err.get("loc", ())],
            "msg": _SURROGATE.sub("\ufffd", str(err.get("msg", ""))),
            "type": str(err.get("type", "")),
        }
        for err in found
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # A literal path captured by a sibling's path parameter is a wrong method, not bad input.
    wrong_method = _method_not_allowed(request)
    if wrong_method is not None:
        return wrong_method
    errors = validation_errors(exc)
    fields = sorted(
        {".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]) for e in errors if e["loc"]}
    )
    detail = "One or more fields are missing or invalid"
    detail += f": {', '.join(fields)}." if fields else "."
    return problem_response(
        422,
        "validation_failed",
        "Request validation failed",
        detail,
        instance=request.url.path,
        errors=errors,
    )


_OPENAPI_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def documented_methods(request: Request) -> set[str] | None:
    """The methods the app's OpenAPI document gives the request's path, or None if none.

    Starlette names only the methods of the first route whose path matched, while FastAPI
    registers one route per method (``PATCH /ideas/{id}`` would answer ``Allow: GET``), and a
    path parameter can capture a literal sibling (``PATCH /ideas/counts`` reaches
    ``PATCH /ideas/{idea_id}`` and fails as an invalid id). The document knows better: the most
    specific template that matches (fewest parameters) and its methods.
    """
    openapi = getattr(request.app, "openapi", None)
    if not callable(openapi) or not getattr(request.app, "openapi_url", None):
        return None
    root = request.scope.get("root_path", "")
    path = request.url.path[len(root) :] if root else request.url.path
    best: tuple[int, set[str]] | None = None
    for template, item in openapi().get("paths", {}).items():
        if _template_regex(template).fullmatch(path):
            specificity = template.count("{")
            if best is None or specificity < best[0]:
                best = (specificity, {m.upper() for m in item if m in _OPENAPI_METHODS})
    return None if best is None else best[1]


def _method_not_allowed(request: Request) -> JSONResponse | None:
    """A 405 when the documented path lacks the request's method (see above), else None."""
    methods = documented_methods(request)
    if methods is None or request.method.upper() in methods:
        return None
    return problem_response(
        405,
        "method_not_allowed",
        "Method Not Allowed",
        instance=request.url.path,
        headers={"Allow": ", ".join(sorted(methods))},
    )


@functools.lru_cache(maxsize=1024)
def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 405:
        methods = documented_methods(request)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(
        status, code, phrase, detail, instance=request.url.path, headers=headers or None
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    import structlog

    structlog.get_logger("kommune.errors").exception("unhandled_error", path=request.url.path)
    return problem_response(
        500,
        "internal_error",
        "Internal server error",
        "An unexpected error occurred; it has been logged.",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
