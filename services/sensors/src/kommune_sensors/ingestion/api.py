"""``POST /api/v1/sensors/observations``: a JSON array of readings from a device or an import.

Order of the checks, each refusing before the next looks: who is calling (device key or token,
before the body is read), the body is a JSON array of at most ``max_batch_rows`` items, the
privacy filter over the whole batch (one identifier anywhere → 422 for all of it, nothing
produced, nothing logged, the answer names only row indexes and kinds), then per row.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, NoReturn

from fastapi import Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from kommune.db import DbSession
from kommune.errors import InvalidInput, PayloadTooLarge
from kommune.routing import service_router
from kommune_sensors.clock import utc_now
from kommune_sensors.device_auth import Caller, MayIngest
from kommune_sensors.devices.models import Datastream, DatastreamKind
from kommune_sensors.ingestion.privacy import scan_batch
from kommune_sensors.ingestion.producer import ObservationProducer
from kommune_sensors.ingestion.validation import StreamInfo, check_batch, requested_datastreams
from kommune_sensors.settings import SensorsSettings

router = service_router("/api/v1/sensors", tags=["ingestion"])

READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["datastream", "phenomenonTime", "result"],
    "properties": {
        "datastream": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "phenomenonTime": {"type": "string", "format": "date-time", "maxLength": 40},
        "result": {"type": "number"},
        "parameters": {
            "type": ["object", "null"],
            "maxProperties": 20,
            "propertyNames": {"minLength": 1, "maxLength": 50},
            "additionalProperties": {
                "type": ["string", "number", "boolean", "null"],
                "maxLength": 100,
            },
        },
    },
}


class RowError(BaseModel):
    index: int
    field: str | None
    message: str


class IngestResult(BaseModel):
    accepted: int = Field(description="Readings handed to the broker (stored once each).")
    rejected: int
    errors: list[RowError] = Field(description="The rejected rows, by index in the batch.")


def _refuse(detail: str, **extensions: Any) -> NoReturn:
    raise InvalidInput(detail, **extensions)


def _reject_constant(name: str) -> NoReturn:
    _refuse(f"{name} is not a JSON number.")


def parse_batch(body: bytes, max_rows: int) -> list[Any]:
    try:
        rows = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        _refuse("The body must be a JSON array of readings.")
    if not isinstance(rows, list) or not rows:
        _refuse("The body must be a non-empty JSON array of readings.")
    if len(rows) > max_rows:
        raise PayloadTooLarge(f"At most {max_rows} readings per request.")
    return rows


async def stream_info(session: DbSession, caller: Caller, ids: set[int]) -> dict[int, StreamInfo]:
    if not ids:
        return {}
    result = await session.execute(
        select(Datastream.id, Datastream.kind).where(Datastream.id.in_(ids))
    )
    return {
        stream_id: StreamInfo(DatastreamKind(kind), caller.may_write(stream_id))
        for stream_id, kind in result.all()
    }


@router.post(
    "/observations",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Post readings (a device with its key, or an operator's import)",
    response_model=IngestResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "minItems": 1, "items": READING_SCHEMA}
                }
            },
        }
    },
)
async def post_observations(
    request: Request, caller: MayIngest, session: DbSession
) -> IngestResult:
    settings: SensorsSettings = request.state.settings
    if not request.headers.get("content-type", "").startswith("application/json"):
        _refuse("Send the readings as application/json.")
    rows = parse_batch(await request.body(), settings.max_batch_rows)
    findings = scan_batch(rows)
    if findings:
        del rows  # nothing of it is kept, produced or logged
        _refuse(
            "The batch carries identifiers (a MAC address, a device id or a number plate). "
            "Only counts and measurements may be sent; nothing of this batch was stored.",
            privacy=[finding.as_dict() for finding in findings[:100]],
        )
    streams = await stream_info(session, caller, requested_datastreams(rows))
    checked = check_batch(
        rows,
        streams,
        now=utc_now(),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        retention=timedelta(days=settings.raw_retention_days),
    )
    errors = [RowError(**error) for error in checked.errors]
    if not checked.readings:
        _refuse(
            "No reading of the batch is valid.",
            row_errors=[error.model_dump() for error in errors[:1000]],
        )
    producer: ObservationProducer = request.state.observation_producer
    await producer.send(checked.readings)
    return IngestResult(accepted=len(checked.readings), rejected=len(errors), errors=errors)
