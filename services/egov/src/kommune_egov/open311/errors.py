"""Errors of the Open311 routes in the spec's own format, not the platform's problem JSON.

GeoReport v2 fixes the error body (``[{"code": 403, "description": "..."}]``, or ``<errors>``
in XML) and the statuses: 404 for what does not exist, 403 for a missing or wrong ``api_key``,
400 for every other request that cannot be fulfilled. :class:`Open311Route` renders whatever a
route (or its access check, or FastAPI's validation) raises in that format, in the format the
path asks for. Limits the server enforces before the app (body size, header and body deadlines)
still answer as everywhere else on the platform.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kommune.errors import DomainError
from kommune.routing import GuardedRoute, Handler
from kommune_egov.open311.formats import format_of_path, render

log = structlog.get_logger(__name__)


class Open311Error(Exception):
    """One or more errors of the spec's error list, with the HTTP status to send them with."""

    def __init__(self, status_code: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status_code = status_code
        self.descriptions = descriptions or ("The request cannot be fulfilled.",)


def spec_status(status_code: int) -> int:
    """The status the spec allows for a platform status: 403, 404 or 400."""
    if status_code in (401, 403):
        return 403
    if status_code in (404, 405):
        return 404 if status_code == 404 else 400
    if status_code >= 500:
        return status_code
    return 400


def error_list(status_code: int, descriptions: Sequence[str]) -> list[dict[str, object]]:
    return [{"code": status_code, "description": text} for text in descriptions]


def error_response(request: Request, status_code: int, descriptions: Sequence[str]) -> Response:
    fmt = format_of_path(request.url.path)
    return render(error_list(status_code, descriptions), "errors", fmt, status_code)


def _describe_validation(exc: RequestValidationError) -> tuple[int, list[str]]:
    """A path that names an unknown format is 404; everything else 400, one entry per field."""
    found: list[str] = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if loc[:2] == ["path", "fmt"]:
            return 404, ["Unknown format: use .json or .xml."]
        field = loc[-1] if len(loc) > 1 else (loc[0] if loc else "request")
        found.append(f"{field}: {err.get('msg', 'invalid')}")
    return 400, found or ["The request is invalid."]


class Open311Route(GuardedRoute):
    """A :class:`~kommune.routing.GuardedRoute` whose errors are the spec's error list."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def spec_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(request, exc.status_code, exc.descriptions)
            except RequestValidationError as exc:
                status_code, descriptions = _describe_validation(exc)
                return error_response(request, status_code, descriptions)
            except DomainError as exc:
                return error_response(request, spec_status(exc.status_code), [exc.detail])
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "The request is invalid."
                return error_response(request, spec_status(exc.status_code), [detail])
            except Exception:
                log.exception("open311_unhandled_error", path=request.url.path)
                return error_response(
                    request, 500, ["An unexpected error occurred; it has been logged."]
                )

        return spec_errors
