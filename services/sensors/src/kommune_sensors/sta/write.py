"""SensorThings writes: create Things (with Locations), Datastreams (with Sensor and
ObservedProperty, or linking them by ``@iot.id``), Observations, and ``CreateObservations``.

``POST`` answers ``201`` with a ``Location`` header (the new entity's self link), which is where
SensorThings clients read the new id from; ``CreateObservations`` answers a list of self links
(or ``"error"`` for a row that was refused), as the clients expect. Observations written here
are stored in the request (the client wants their ids at once), with the same statement the
writer uses (roll-ups, latest value, count, container alerts) and the same checks (privacy
filter, per-row rules). Bodies are read leniently about members the service does not keep
(``@iot.selfLink``, ``resultTime``...), strictly about the ones it does.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.errors import InvalidInput, NotFound, validation_errors
from kommune_sensors.access import Permission, requires
from kommune_sensors.alerts.service import evaluate_fill_levels
from kommune_sensors.clock import utc_now
from kommune_sensors.device_auth import Caller
from kommune_sensors.devices.models import DatastreamKind
from kommune_sensors.devices.schemas import (
    DatastreamCreate,
    LocationIn,
    ObservedPropertyIn,
    SensorIn,
    ThingCreate,
    UnitIn,
)
from kommune_sensors.devices.service import DeviceService
from kommune_sensors.ingestion.api import stream_info
from kommune_sensors.ingestion.privacy import scan_batch
from kommune_sensors.ingestion.validation import check_batch, requested_datastreams
from kommune_sensors.ingestion.writer import Row, store
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.sta.members import EntityError

MayWrite = Annotated[Principal, Depends(requires(Permission.MANAGE_DEVICES))]
_NESTED = re.compile(r"Datastreams\((\d{1,18})\)/Observations")
MAX_DATA_ARRAY = 10_000
NO_EXPLICIT_FEATURE = (
    "FeaturesOfInterest are derived here: an observation's feature is the location of its "
    "datastream's thing. A FeatureOfInterest cannot be created or given to an observation."
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Ref(_Lenient):
    id: int = Field(alias="@iot.id", ge=1, le=2**63 - 1)


class GeoPoint(_Lenient):
    type: str = Field(pattern="^Point$")
    coordinates: list[float] = Field(min_length=2, max_length=3)


class StaLocation(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    location: GeoPoint


class StaThing(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    properties: dict[str, Any] = Field(default_factory=dict)
    locations: list[StaLocation] = Field(default_factory=list, alias="Locations", max_length=1)


class StaSensor(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    encoding_type: str = Field(default="text/plain", alias="encodingType", max_length=100)
    metadata: str | None = Field(default=None, max_length=2000)


class StaObservedProperty(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    definition: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=2000)


class StaDatastream(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    unit: dict[str, Any] = Field(alias="unitOfMeasurement")
    properties: dict[str, Any] = Field(default_factory=dict)
    thing: Ref = Field(alias="Thing")
    sensor: Ref | StaSensor = Field(alias="Sensor")
    observed_property: Ref | StaObservedProperty = Field(alias="ObservedProperty")


class StaObservation(_Lenient):
    phenomenon_time: str = Field(alias="phenomenonTime", max_length=40)
    result: Any
    parameters: dict[str, Any] | None = None
    datastream: Ref | None = Field(default=None, alias="Datastream")
    feature_of_interest: Any = Field(default=None, alias="FeatureOfInterest")


class DataArrayGroup(_Lenient):
    datastream: Ref = Field(alias="Datastream")
    components: list[str] = Field(min_length=2, max_length=3)
    data_array: list[list[Any]] = Field(alias="dataArray", max_length=MAX_DATA_ARRAY)


def _parse(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise InvalidInput(
            "The entity is not valid SensorThings for this service.",
            errors=validation_errors(error),
        ) from None


def _created(base: str, entity_set: str, entity_id: int, body: dict[str, Any]) -> Response:
    link = f"{base}/{entity_set}({entity_id})"
    return JSONResponse(
        {"@iot.id": entity_id, "@iot.selfLink": link, **body},
        status_code=201,
        headers={"Location": link},
    )


async def create(
    resource_path: str, request: Request, session: DbSession, principal: Principal, base: str
) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise InvalidInput("The body must be JSON.") from None
    path = resource_path.strip("/")
    devices = DeviceService(session)
    if path == "Things":
        thing = _parse(StaThing, body)
        location = None
        if thing.locations:
            point = thing.locations[0]
            location = _model(
                LocationIn,
                name=point.name,
                description=point.description or None,
                lat=point.location.coordinates[1],
                lon=point.location.coordinates[0],
            )
        created = await devices.create_thing(
            principal,
            _model(
                ThingCreate,
                name=thing.name,
                description=thing.description or None,
                properties={
                    k: v
                    for k, v in thing.properties.items()
                    if isinstance(v, str | bool | float | int)
                },
                location=location,
            ),
        )
        return _created(base, "Things", created.id, {"name": created.name})
    if path == "Datastreams":
        stream = _parse(StaDatastream, body)
        sensor = stream.sensor if isinstance(stream.sensor, StaSensor) else None
        prop = (
            stream.observed_property
            if isinstance(stream.observed_property, StaObservedProperty)
            else None
        )
        kind = stream.properties.get("kind", DatastreamKind.MEASUREMENT.value)
        created_stream = await devices.create_datastream(
            principal,
            stream.thing.id,
            _model(
                DatastreamCreate,
                name=stream.name,
                description=stream.description or None,
                kind=kind,
                unit=_model(
                    UnitIn,
                    name=stream.unit.get("name"),
                    symbol=stream.unit.get("symbol"),
                    definition=stream.unit.get("definition"),
                ),
                observed_property=_model(
                    ObservedPropertyIn,
                    name=prop.name if prop else "-",
                    definition=prop.definition if prop else "urn:kommune:linked",
                    description=prop.description if prop else None,
                ),
                sensor=_model(
                    SensorIn,
                    name=sensor.name if sensor else "-",
                    description=sensor.description if sensor else None,
                    encoding_type=sensor.encoding_type if sensor else "text/plain",
                    metadata=sensor.metadata if sensor else None,
                ),
            ),
            sensor_id=None if sensor else stream.sensor.id,
            observed_property_id=None if prop else stream.observed_property.id,
        )
        return _created(base, "Datastreams", created_stream.id, {"name": created_stream.name})
    nested = _NESTED.fullmatch(path)
    if path == "Observations" or nested:
        observation = _parse(StaObservation, body)
        stream_id = (
            int(nested.group(1))
            if nested
            else (observation.datastream.id if observation.datastream else 0)
        )
        if not stream_id:
            raise InvalidInput("An Observation needs its Datastream.")
        if observation.feature_of_interest is not None:
            raise EntityError(NO_EXPLICIT_FEATURE)
        row: dict[str, Any] = {
            "datastream": stream_id,
            "phenomenonTime": observation.phenomenon_time,
            "result": observation.result,
        }
        if observation.parameters is not None:
            row["parameters"] = observation.parameters
        [result] = await store_observations(request, session, principal, [row])
        if isinstance(result, str):
            raise InvalidInput(result)
        return _created(base, "Observations", result, {"result": observation.result})
    if path == "CreateObservations":
        if not isinstance(body, list) or not body:
            raise InvalidInput("CreateObservations takes a non-empty array of dataArray groups.")
        groups = [_parse(DataArrayGroup, group) for group in body]
        rows = []
        for group in groups:
            if "phenomenonTime" not in group.components or "result" not in group.components:
                raise InvalidInput("components must name phenomenonTime and result.")
            if any(c.startswith("FeatureOfInterest") for c in group.components):
                raise EntityError(NO_EXPLICIT_FEATURE)
            at = group.components.index("phenomenonTime")
            value = group.components.index("result")
            for item in group.data_array:
                if len(item) != len(group.components):
                    raise InvalidInput("Each dataArray row has one value per component.")
                rows.append(
                    {
                        "datastream": group.datastream.id,
                        "phenomenonTime": item[at],
                        "result": item[value],
                    }
                )
        results = await store_observations(request, session, principal, rows)
        links = [f"{base}/Observations({r})" if isinstance(r, int) else "error" for r in results]
        return JSONResponse(links, status_code=201)
    if path == "FeaturesOfInterest":
        raise EntityError(NO_EXPLICIT_FEATURE)
    raise NotFound("Create Things, Datastreams, Observations or use CreateObservations.")


def _model(model: type[BaseModel], **values: Any) -> Any:
    return _parse(model, {k: v for k, v in values.items() if v is not None})


async def store_observations(
    request: Request, session: AsyncSession, principal: Principal, rows: list[dict[str, Any]]
) -> list[int | str]:
    """Check (privacy filter, each row), store ``rows`` now: per row its id, or why not."""
    settings: SensorsSettings = request.state.settings
    if scan_batch(rows):
        raise InvalidInput(
            "The observations carry identifiers (a MAC address, a device id or a number plate); "
            "nothing was stored."
        )
    streams = await stream_info(session, Caller(principal=principal), requested_datastreams(rows))
    checked = check_batch(
        rows,
        streams,
        now=utc_now(),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        retention=timedelta(days=settings.raw_retention_days),
    )
    results: list[int | str] = ["error"] * len(rows)
    for error in checked.errors:
        results[error["index"]] = f"{error['field'] or 'row'} {error['message']}"
    if not checked.readings:
        return results
    staged: list[Row] = [
        (
            r.datastream_id,
            r.phenomenon_time,
            r.result,
            None if r.parameters is None else json.dumps(r.parameters, separators=(",", ":")),
        )
        for r in checked.readings
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    stored = await store(raw.driver_connection, staged, set())
    if stored.fill_levels:
        await evaluate_fill_levels(session, stored.fill_levels, settings.waste_full_threshold)
    ids = await _ids_of(session, staged)
    good = iter(ids)
    error_indexes = {error["index"] for error in checked.errors}
    for index in range(len(rows)):
        if index not in error_indexes:
            results[index] = next(good)
    return results


async def _ids_of(session: AsyncSession, rows: list[Row]) -> list[int]:
    """The observation id of each row (the existing one for a reading stored before)."""
    found = await session.execute(
        text(
            "SELECT o.id, o.datastream_id, o.phenomenon_time FROM observations o "
            "JOIN unnest(CAST(:streams AS bigint[]), CAST(:times AS timestamptz[])) AS k(d, t) "
            "ON o.datastream_id = k.d AND o.phenomenon_time = k.t"
        ),
        {"streams": [r[0] for r in rows], "times": [r[1] for r in rows]},
    )
    by_key = {(d, t): i for i, d, t in found.all()}
    return [by_key[(r[0], r[1])] for r in rows]
