"""GeoReport v2 at ``/open311/v2``: every resource as ``.json`` and ``.xml``.

Reads are public; ``POST requests`` is authenticated by a client app's ``api_key``. Errors are
the spec's error list (see :mod:`kommune_egov.open311.errors`), not problem JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from kommune.clock import utc_now
from kommune.db import DbSession
from kommune.routing import public_access
from kommune_egov.open311.api_keys import (
    MAX_FORM_FIELDS,
    MAX_FORM_FILES,
    MAX_PART_BYTES,
    ClientApp,
    client_app_key,
)
from kommune_egov.open311.errors import Open311Error, Open311Route
from kommune_egov.open311.formats import Format, render
from kommune_egov.open311.schemas import (
    JURISDICTION_ID,
    check_jurisdiction,
    form_fields,
    parse_filters,
    parse_report,
)
from kommune_egov.open311.service import SPECIFICATION, Open311Service

PREFIX = "/open311/v2"
DISCOVERY_CHANGESET = "2026-11-29T00:00:00+01:00"
"""When the endpoint list below last changed (the spec's ``changeset``)."""

router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)

Public = [Depends(public_access)]
FormatParam = Annotated[Format, Path(description="`json` or `xml` (the spec's required format).")]
Jurisdiction = Annotated[
    str | None,
    Query(max_length=100, description=f"Optional: this endpoint serves `{JURISDICTION_ID}` only."),
]
ClientAppKey = Annotated[ClientApp, Depends(client_app_key)]


def _spec_responses(root: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: the answer in both formats (errors: :mod:`kommune_egov.open311.openapi`)."""
    content: dict[str, Any] = {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}
    return {status: {"description": f"`{root}`: JSON or XML, by the path.", "content": content}}


@router.get(
    "/discovery.{fmt}",
    summary="Service discovery: the endpoint, its specification and formats",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("discovery"),
)
async def discovery(request: Request, fmt: FormatParam) -> Response:
    base = str(request.state.settings.public_base_url).rstrip("/")
    body = {
        "changeset": DISCOVERY_CHANGESET,
        "contact": "Stadt Heidenheim an der Brenz, Digitale Kommune (open311@heidenheim.de)",
        "key_service": "API keys for client apps are issued by the city (Digitale Kommune).",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}{PREFIX}",
                "changeset": DISCOVERY_CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(body, "discovery", fmt)


@router.get(
    "/services.{fmt}",
    summary="The damage-report services",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("services"),
)
async def services(
    session: DbSession, fmt: FormatParam, jurisdiction_id: Jurisdiction = None
) -> Response:
    check_jurisdiction(jurisdiction_id)
    return render(await Open311Service(session).services(), "services", fmt)


@router.get(
    "/services/{service_code}.{fmt}",
    summary="A service definition with its attributes",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("service_definition"),
)
async def service_definition(
    session: DbSession,
    service_code: Annotated[str, Path(max_length=60)],
    fmt: FormatParam,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    check_jurisdiction(jurisdiction_id)
    definition = await Open311Service(session).definition(service_code)
    return render(definition, "service_definition", fmt)


@router.post(
    "/requests.{fmt}",
    summary="Report damage (a client app's api_key; form-encoded or multipart with `media`)",
    status_code=201,
    response_class=Response,
    responses=_spec_responses("service_requests", 201),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "multipart/form-data": {"schema": {"type": "object"}},
            },
        }
    },
)
async def create_request(
    request: Request, session: DbSession, fmt: FormatParam, client: ClientAppKey
) -> Response:
    """``api_key``, ``service_code``, ``lat`` + ``long`` or ``address_string`` or ``address_id``,
    ``attribute[CODE]`` (``attribute[CODE][]`` repeated for a multivaluelist), ``email``,
    ``first_name``, ``last_name``, ``phone``, ``description``, ``media_url`` (stored, never
    fetched), ``device_id``, ``account_id``; multipart may add one ``media`` photo."""
    form = await request.form(
        max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_PART_BYTES
    )
    fields, attributes = form_fields(list(form.multi_items()))
    check_jurisdiction(fields.get("jurisdiction_id"))
    report = parse_report(fields)
    media = form.get("media")
    if media is not None and isinstance(media, str):
        raise Open311Error(400, "media: send the photo as a multipart file part.")
    max_bytes: int = request.state.settings.attachment_max_bytes
    created = await Open311Service(session).submit(client, report, attributes, media, max_bytes)
    return render([created], "service_requests", fmt, status_code=201)


@router.get(
    "/requests.{fmt}",
    summary="Reports, newest first (filters of the spec, page and page_size)",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("service_requests"),
)
async def search_requests(
    request: Request,
    session: DbSession,
    fmt: FormatParam,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[str | None, Query(max_length=6)] = None,
    page_size: Annotated[str | None, Query(max_length=5)] = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """``start_date``/``end_date`` default to the last 90 days and may not span more; at most
    ``page_size`` (default and maximum 1000) per ``page``."""
    check_jurisdiction(jurisdiction_id)
    filters = parse_filters(dict(request.query_params.items()), utc_now())
    return render(await Open311Service(session).search(filters), "service_requests", fmt)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="One report",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("service_requests"),
)
async def get_request(
    session: DbSession,
    service_request_id: Annotated[str, Path(max_length=40)],
    fmt: FormatParam,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    check_jurisdiction(jurisdiction_id)
    entry = await Open311Service(session).one(service_request_id)
    return render([entry], "service_requests", fmt)


@router.get(
    "/tokens/{token}.{fmt}",
    summary="The request id of a token (none are issued: every service is realtime)",
    dependencies=Public,
    response_class=Response,
    responses=_spec_responses("service_requests"),
)
async def token_lookup(
    token: Annotated[str, Path(max_length=100)],
    fmt: FormatParam,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """Every service of this endpoint is ``realtime``: ``POST requests`` answers with the
    ``service_request_id`` at once and issues no token, so every token is unknown (404)."""
    check_jurisdiction(jurisdiction_id)
    raise Open311Error(
        404, "token not found: this endpoint's services are realtime and issue no tokens."
    )
