"""SensorThings updates (``PATCH`` partial, ``PUT`` full replace) and deletes.

Both address one entity, ``Set(id)``, and need an ``operator``/``admin`` token (the route's
dependency). An update answers ``200`` with the entity as it is now, a delete ``200`` with no
body (SensorThings 1.1, 10.3 and 10.4); a missing id is ``404``; a body that is not an update of
that entity (unknown or mistyped members, a different ``@iot.id``, a deep insert) is ``400``
and changes nothing. Linking a Thing to Locations records a HistoricalLocation.

Deletes cascade as the standard says: a Thing takes its Datastreams (and their Observations)
and its HistoricalLocations with it, a Sensor or an ObservedProperty the Datastreams that need
it, a Location only its links. Observations have no foreign key (the table is partitioned by
time), so their rows are deleted explicitly, by the primary key's leading column. Changing or
deleting an Observation keeps what the writer maintains true: the roll-up buckets it touched
are recomputed from the raw rows, and the datastream's count and latest value follow.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.errors import Conflict, DomainError, InvalidInput, NotFound
from kommune_sensors.clock import utc_now
from kommune_sensors.device_auth import Caller
from kommune_sensors.devices.history import record_locations
from kommune_sensors.devices.models import (
    Datastream,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
    ThingLocation,
)
from kommune_sensors.ingestion.api import stream_info
from kommune_sensors.ingestion.models import Observation
from kommune_sensors.ingestion.partitions import create_partitions
from kommune_sensors.ingestion.privacy import scan_batch
from kommune_sensors.ingestion.validation import check_batch
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.sta.entities import SETS
from kommune_sensors.sta.members import SHAPES, EntityError, Shape
from kommune_sensors.sta.serialize import serialize

_ENTITY = re.compile(r"([A-Za-z]+)\((\d{1,18})\)")
BERLIN = ZoneInfo("Europe/Berlin")
_ANNOTATION = re.compile(r"(?:[A-Za-z]+)?@iot\.(?:selfLink|navigationLink)")


class MethodNotAllowedError(DomainError):
    status_code = 405
    code = "method_not_allowed"
    title = "Method not allowed"


def _address(resource_path: str) -> tuple[str, int]:
    match = _ENTITY.fullmatch(resource_path.strip("/"))
    if match is None:
        raise MethodNotAllowedError("Updates and deletes address one entity: Set(id).")
    name, raw_id = match.groups()
    if name not in SETS:
        raise NotFound("No such SensorThings resource.")
    return name, int(raw_id)


async def _writable(session: AsyncSession, name: str, entity_id: int) -> Shape:
    """The shape of a writable set; HistoricalLocations and FeaturesOfInterest are recorded or
    derived by the service: a missing id is ``404``, an existing one ``405``."""
    if name in SHAPES:
        return SHAPES[name]
    entity = SETS[name]
    if await session.scalar(select(entity.id_column).where(entity.id_column == entity_id)) is None:
        raise NotFound("No such entity.")
    raise MethodNotAllowedError(
        f"{name} are recorded or derived by the service: they cannot be changed or deleted."
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise EntityError("The body must be JSON.") from None
    if not isinstance(body, dict):
        raise EntityError("The body is one entity: a JSON object.")
    return body


def _reference(name: str, value: Any) -> int:
    """A related entity given by ``@iot.id`` (other members of it are ignored, as FROST does)."""
    ref = value.get("@iot.id") if isinstance(value, dict) else None
    if isinstance(ref, bool) or not isinstance(ref, int) or not 1 <= ref <= 2**63 - 1:
        raise EntityError(f"{name} links an existing entity by its integer @iot.id.")
    return ref


class Changes:
    """A body read against an entity's shape: new member values, new links, new locations."""

    def __init__(self, shape: Shape, body: dict[str, Any], entity_id: int, replace: bool) -> None:
        self.values: dict[str, Any] = {}
        self.links: dict[str, int] = {}
        self.locations: list[int] | None = None
        for name, value in body.items():
            if name == "@iot.id":
                if value != entity_id:
                    raise EntityError("@iot.id cannot change.")
            elif _ANNOTATION.fullmatch(name) or name in shape.derived:
                continue
            elif name in shape.members:
                self.values[shape.members[name].attribute] = shape.members[name].parse(name, value)
            elif name in shape.links:
                self.links[shape.links[name].attribute] = _reference(name, value)
            elif name in shape.unkept:
                if value not in (None, {}, []):
                    raise EntityError(f"{name} is not kept by this service; send it as null.")
            elif name == "Locations" and shape.model is Thing:
                if not isinstance(value, list) or len(value) > 10:
                    raise EntityError("Locations is a list of at most 10 links by @iot.id.")
                self.locations = [_reference("Locations", item) for item in value]
            elif name in shape.collections:
                raise EntityError(f"{name} cannot be changed through an update of this entity.")
            else:
                raise EntityError(f"Unknown property {name[:100]!r}.")
        if replace:
            missing = [
                n for n, m in shape.members.items() if m.required and m.attribute not in self.values
            ]
            if missing:
                raise EntityError(f"PUT replaces the entity: {', '.join(missing)} missing.")
            for member in shape.members.values():
                self.values.setdefault(member.attribute, member.default)


async def update(
    resource_path: str,
    request: Request,
    session: AsyncSession,
    principal: Principal,
    base: str,
    *,
    replace: bool,
) -> Response:
    name, entity_id = _address(resource_path)
    shape = await _writable(session, name, entity_id)
    body = await _body(request)
    row = await _locked(session, shape.model, entity_id)  # a missing id is 404 whatever the body
    changes = Changes(shape, body, entity_id, replace)
    if name == "Observations":
        row = await _update_observation(request, session, principal, row, changes)
    else:
        await _apply(session, row, changes)
    await session.refresh(row)
    return JSONResponse(serialize(SETS[name], row, base, []))


async def _locked(session: AsyncSession, model: Any, entity_id: int) -> Any:
    row = await session.scalar(select(model).where(model.id == entity_id).with_for_update())
    if row is None:
        raise NotFound("No such entity.")
    return row


async def _apply(session: AsyncSession, row: Any, changes: Changes) -> None:
    for attribute, value in changes.values.items():
        if attribute == "location":
            row.latitude, row.longitude = value
        elif attribute == "kind":
            if value is not None and value != row.kind:
                raise EntityError("A datastream's kind cannot change (its readings depend on it).")
        else:
            setattr(row, attribute, value)
    for attribute, target_id in changes.links.items():
        target = {"thing_id": Thing, "sensor_id": Sensor, "observed_property_id": ObservedProperty}
        model: Any = target[attribute]
        if await session.scalar(select(model.id).where(model.id == target_id)) is None:
            raise EntityError(f"No {model.__name__} with @iot.id {target_id}.")
        setattr(row, attribute, target_id)
    if changes.locations is not None:
        found = set(
            await session.scalars(select(Location.id).where(Location.id.in_(changes.locations)))
        )
        if missing := sorted(set(changes.locations) - found):
            raise EntityError(f"No Location with @iot.id {missing[0]}.")
        await session.execute(delete(ThingLocation).where(ThingLocation.thing_id == row.id))
        session.add_all(ThingLocation(thing_id=row.id, location_id=lid) for lid in found)
        await session.flush()
        await record_locations(session, row.id, found)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another entity already has this definition.") from None


async def _update_observation(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    old: Observation,
    changes: Changes,
) -> Observation:
    obs_id = old.id
    old_key = (old.datastream_id, old.phenomenon_time)
    values = changes.values
    row: dict[str, Any] = {
        "datastream": changes.links.get("datastream_id", old.datastream_id),
        "phenomenonTime": values.get("phenomenon_time", old.phenomenon_time.isoformat()),
        "result": values.get("result", old.result),
    }
    parameters = values.get("parameters", old.parameters)
    if parameters is not None:
        row["parameters"] = parameters
    if scan_batch([row]):
        raise InvalidInput(
            "The observation carries identifiers (a MAC address, a device id or a number plate); "
            "nothing was changed."
        )
    settings: SensorsSettings = request.state.settings
    streams = await stream_info(session, Caller(principal=principal), {row["datastream"]})
    checked = check_batch(
        [row],
        streams,
        now=utc_now(),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        retention=timedelta(days=settings.raw_retention_days),
    )
    if checked.errors:
        error = checked.errors[0]
        raise EntityError(f"{error['field'] or 'Observation'}: {error['message']}")
    [reading] = checked.readings
    new_key = (reading.datastream_id, reading.phenomenon_time)
    session.expunge(old)
    await session.execute(
        delete(Observation).where(
            Observation.datastream_id == old_key[0], Observation.phenomenon_time == old_key[1]
        )
    )
    connection = await (await session.connection()).get_raw_connection()
    await create_partitions(
        connection.driver_connection, [reading.phenomenon_time.astimezone(UTC).date()]
    )
    inserted = await session.scalar(
        text(
            "INSERT INTO observations (datastream_id, phenomenon_time, id, result, parameters) "
            "VALUES (:d, :t, :id, :r, CAST(:p AS jsonb)) ON CONFLICT DO NOTHING RETURNING id"
        ),
        {
            "d": reading.datastream_id,
            "t": reading.phenomenon_time,
            "id": obs_id,
            "r": reading.result,
            "p": None if reading.parameters is None else json.dumps(reading.parameters),
        },
    )
    if inserted is None:
        raise Conflict("The datastream has another observation at this phenomenonTime.")
    delta = {old_key[0]: -1}
    delta[new_key[0]] = delta.get(new_key[0], 0) + 1
    await refresh_derived(session, [old_key, new_key], count_delta=delta)
    updated = await session.scalar(
        select(Observation).where(
            Observation.datastream_id == new_key[0], Observation.phenomenon_time == new_key[1]
        )
    )
    assert updated is not None
    return updated


_REFRESH_BUCKETS = [
    text("DELETE FROM observations_hourly WHERE datastream_id = :d AND bucket = :hour"),
    text(
        "INSERT INTO observations_hourly (datastream_id, bucket, count, sum, min, max) "
        "SELECT :d, :hour, count(*), sum(result), min(result), max(result) FROM observations "
        "WHERE datastream_id = :d AND phenomenon_time >= :hour "
        "AND phenomenon_time < :hour_end HAVING count(*) > 0"
    ),
    text("DELETE FROM observations_daily WHERE datastream_id = :d AND day = :day"),
    text(
        "INSERT INTO observations_daily (datastream_id, day, count, sum, min, max) "
        "SELECT :d, :day, count(*), sum(result), min(result), max(result) FROM observations "
        "WHERE datastream_id = :d AND phenomenon_time >= :day_start "
        "AND phenomenon_time < :day_end HAVING count(*) > 0"
    ),
]
"""Constant statements (only bind parameters vary): one hour's and one day's bucket again."""


async def refresh_derived(
    session: AsyncSession, keys: list[tuple[int, datetime]], count_delta: dict[int, int]
) -> None:
    """After observations at ``keys`` changed: recompute their hourly and daily buckets from
    the raw rows, add ``count_delta`` to the datastreams' counts, re-read their latest value."""
    for stream_id, at in set(keys):
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        day = at.astimezone(BERLIN).date()
        params = {
            "d": stream_id,
            "hour": hour,
            "hour_end": hour + timedelta(hours=1),
            "day": day,
            "day_start": datetime.combine(day, time(0), tzinfo=BERLIN),
            "day_end": datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN),
        }
        for statement in _REFRESH_BUCKETS:
            await session.execute(statement, params)
    for stream_id, delta in count_delta.items():
        await session.execute(
            text(
                "UPDATE datastreams SET observation_count = greatest(observation_count + :n, 0), "
                "(latest_phenomenon_time, latest_result) = (SELECT phenomenon_time, result "
                "FROM observations WHERE datastream_id = :d "
                "ORDER BY phenomenon_time DESC LIMIT 1) WHERE id = :d"
            ),
            {"d": stream_id, "n": delta},
        )


async def remove(resource_path: str, session: AsyncSession) -> Response:
    name, entity_id = _address(resource_path)
    model = (await _writable(session, name, entity_id)).model
    if name == "Observations":
        row = await _locked(session, Observation, entity_id)
        key = (row.datastream_id, row.phenomenon_time)
        session.expunge(row)
        await session.execute(
            delete(Observation).where(
                Observation.datastream_id == key[0], Observation.phenomenon_time == key[1]
            )
        )
        await refresh_derived(session, [key], count_delta={key[0]: -1})
        return Response(status_code=200)
    await _locked(session, model, entity_id)
    dependent = {
        "Things": Datastream.thing_id,
        "Datastreams": Datastream.id,
        "Sensors": Datastream.sensor_id,
        "ObservedProperties": Datastream.observed_property_id,
    }.get(name)
    if dependent is not None:
        streams = list(await session.scalars(select(Datastream.id).where(dependent == entity_id)))
        if streams:
            await session.execute(delete(Observation).where(Observation.datastream_id.in_(streams)))
            await session.execute(delete(Datastream).where(Datastream.id.in_(streams)))
    await session.execute(delete(model).where(model.id == entity_id))
    return Response(status_code=200)
