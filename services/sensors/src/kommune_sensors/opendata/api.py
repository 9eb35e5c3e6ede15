"""``/api/v1/opendata``: the DCAT-AP.de catalogue (JSON-LD) and the datasets as CSV or JSON.

Open to everyone (``public_access``; the gateway passes GET without a token). Only published
things' data, small counts suppressed (:mod:`kommune_sensors.opendata.datasets`); licence
Datenlizenz Deutschland - Namensnennung - Version 2.0.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from kommune.db import DbSession
from kommune.errors import InvalidInput, NotFound
from kommune.routing import public_access, service_router
from kommune_sensors.clock import utc_now
from kommune_sensors.opendata.catalog import LICENSE, catalog
from kommune_sensors.opendata.datasets import BERLIN, DATASETS

PREFIX = "/api/v1/opendata"
MAX_DAYS = 366
DEFAULT_DAYS = 7
router = service_router(PREFIX, tags=["open data"])
Public = [Depends(public_access)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("/catalog", dependencies=Public, summary="DCAT-AP.de catalogue (JSON-LD)")
async def get_catalog(request: Request) -> JSONResponse:
    return JSONResponse(catalog(_base(request)), media_type="application/ld+json")


def date_range(first: date | None, last: date | None) -> tuple[date, date]:
    """Default: the last seven whole days. At most a year, never the future."""
    yesterday = utc_now().astimezone(BERLIN).date() - timedelta(days=1)
    last = last or yesterday
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput("from must not be after to.", field="from")
    if last > yesterday + timedelta(days=1):  # today (still filling up) is the latest
        raise InvalidInput("to lies in the future.", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"At most {MAX_DAYS} days per request.", field="from")
    return first, last


@router.get(
    "/datasets/{name}",
    dependencies=Public,
    summary="A dataset as CSV (`{id}.csv`) or JSON (`{id}.json`)",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def get_dataset(
    name: str,
    request: Request,
    session: DbSession,
    first: Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD)")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last day (YYYY-MM-DD)")] = None,
) -> Response:
    identifier, _, fmt = name.rpartition(".")
    dataset = DATASETS.get(identifier)
    if dataset is None or fmt not in ("csv", "json"):
        raise NotFound(f"Datasets: {', '.join(f'{d}.csv|.json' for d in DATASETS)}.")
    start, end = date_range(first, last)
    rows = await dataset.rows(session, start, end)
    if fmt == "json":
        body: dict[str, Any] = {
            "dataset": dataset.identifier,
            "title": dataset.title,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "license": LICENSE,
            "publisher": "Stadt Heidenheim an der Brenz",
            "rows": rows,
        }
        return JSONResponse(body)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=dataset.columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    filename = f"{dataset.identifier}_{start:%Y%m%d}-{end:%Y%m%d}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
