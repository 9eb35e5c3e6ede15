"""What an update body may say about each SensorThings entity: its members, their checks, links.

One table per entity set: the STA property name, the model attribute it sets, a parser that
checks and converts the value (raising :class:`EntityError`), whether ``PUT`` needs it and what
``PUT`` sets when it is absent. Members the STA model has but the service derives or does not
keep are listed apart: derived ones (a Datastream's ``phenomenonTime``) are ignored, unkept ones
(an Observation's ``resultTime``) are accepted only as ``null`` so nothing a client sends is
silently lost. Everything else is an unknown property: ``400``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kommune.errors import DomainError
from kommune_sensors.devices.models import Datastream, Location, ObservedProperty, Sensor, Thing
from kommune_sensors.ingestion.models import Observation

MAX_PROPERTIES = 20


class EntityError(DomainError):
    """A body that is not a valid update of the entity: ``400`` (SensorThings answers 400)."""

    status_code = 400
    code = "invalid_entity"
    title = "Invalid SensorThings entity"


def text(limit: int, *, empty: bool = True) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
            raise EntityError(
                f"{name} is a text of {'1' if not empty else '0'} to {limit} characters."
            )
        return value

    return parse


def _scalar_map(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > MAX_PROPERTIES:
        raise EntityError(f"{name} is an object of at most {MAX_PROPERTIES} entries.")
    for key, item in value.items():
        if len(key) > 50 or not (
            item is None
            or isinstance(item, bool | str)
            or (isinstance(item, int | float) and math.isfinite(item))
        ):
            raise EntityError(f"{name}: {key[:50]!r} must be a short name with a scalar value.")
        if isinstance(item, str) and len(item) > 500:
            raise EntityError(f"{name}: {key!r} is longer than 500 characters.")
    return value


def _unit(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"name", "symbol", "definition"}:
        raise EntityError(f"{name} is an object with name, symbol and definition.")
    for key, item in value.items():
        if item is not None and (not isinstance(item, str) or len(item) > 200):
            raise EntityError(f"{name}.{key} is a text of at most 200 characters.")
    return value


def _datastream_properties(name: str, value: Any) -> str | None:
    """A Datastream's ``properties`` hold only its ``kind`` (which decides valid results)."""
    if not isinstance(value, dict) or set(value) - {"kind"}:
        raise EntityError(f"{name} holds only 'kind' in this service.")
    kind = value.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise EntityError(f"{name}.kind is a text.")
    return kind


def point(name: str, value: Any) -> tuple[float, float]:
    """A GeoJSON Point → ``(latitude, longitude)``."""
    coordinates = value.get("coordinates") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or value.get("type") != "Point"
        or set(value) - {"type", "coordinates"}
        or not isinstance(coordinates, list)
        or len(coordinates) not in (2, 3)
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
    ):
        raise EntityError(f"{name} is a GeoJSON Point with [longitude, latitude].")
    lon, lat = float(coordinates[0]), float(coordinates[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise EntityError(f"{name}: latitude or longitude out of range.")
    return lat, lon


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EntityError(f"{name} is a finite number.")
    return float(value)


def as_is(name: str, value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Member:
    attribute: str
    parse: Callable[[str, Any], Any]
    required: bool = False
    """``PUT`` must carry it."""
    default: Any = None
    """What ``PUT`` sets when the member is absent (``None``: keep it required)."""


@dataclass(frozen=True)
class Link:
    """A to-one navigation a body may change by ``{"@iot.id": n}``."""

    attribute: str
    target: Any


@dataclass(frozen=True)
class Shape:
    model: Any
    members: dict[str, Member]
    links: dict[str, Link] = field(default_factory=dict)
    derived: frozenset[str] = frozenset()
    """STA members computed by the service: ignored in a body."""
    unkept: frozenset[str] = frozenset()
    """STA members the service does not store: accepted only as ``null``."""
    collections: frozenset[str] = frozenset()
    """To-many navigations: a body may not carry them (no deep updates), except Thing/Locations."""


SHAPES: dict[str, Shape] = {
    "Things": Shape(
        Thing,
        {
            "name": Member("name", text(200, empty=False), required=True),
            "description": Member("description", text(2000), default=""),
            "properties": Member("properties", _scalar_map, default={}),
        },
        collections=frozenset({"Datastreams", "HistoricalLocations", "MultiDatastreams"}),
    ),
    "Locations": Shape(
        Location,
        {
            "name": Member("name", text(200, empty=False), required=True),
            "description": Member("description", text(2000), default=""),
            "encodingType": Member(
                "encoding_type", text(100, empty=False), default="application/geo+json"
            ),
            "location": Member("location", point, required=True),
        },
        unkept=frozenset({"properties"}),
        collections=frozenset({"Things", "HistoricalLocations"}),
    ),
    "Datastreams": Shape(
        Datastream,
        {
            "name": Member("name", text(200, empty=False), required=True),
            "description": Member("description", text(2000), default=""),
            "observationType": Member(
                "observation_type",
                text(200, empty=False),
                default="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            ),
            "unitOfMeasurement": Member("unit_of_measurement", _unit, required=True),
            "properties": Member("kind", _datastream_properties, default=None),
        },
        links={
            "Thing": Link("thing_id", Thing),
            "Sensor": Link("sensor_id", Sensor),
            "ObservedProperty": Link("observed_property_id", ObservedProperty),
        },
        derived=frozenset({"phenomenonTime", "resultTime", "observedArea"}),
        collections=frozenset({"Observations"}),
    ),
    "Sensors": Shape(
        Sensor,
        {
            "name": Member("name", text(200, empty=False), required=True),
            "description": Member("description", text(2000), default=""),
            "encodingType": Member("encoding_type", text(100, empty=False), default="text/plain"),
            "metadata": Member("metadata_", text(2000), default=""),
        },
        unkept=frozenset({"properties"}),
        collections=frozenset({"Datastreams", "MultiDatastreams"}),
    ),
    "ObservedProperties": Shape(
        ObservedProperty,
        {
            "name": Member("name", text(200, empty=False), required=True),
            "definition": Member("definition", text(500, empty=False), required=True),
            "description": Member("description", text(2000), default=""),
        },
        unkept=frozenset({"properties"}),
        collections=frozenset({"Datastreams", "MultiDatastreams"}),
    ),
    "Observations": Shape(
        Observation,
        {
            "phenomenonTime": Member("phenomenon_time", as_is, required=True),
            "result": Member("result", number, required=True),
            "parameters": Member("parameters", as_is, default=None),
        },
        links={"Datastream": Link("datastream_id", Datastream)},
        unkept=frozenset({"resultTime", "resultQuality", "validTime", "FeatureOfInterest"}),
    ),
}
"""HistoricalLocations and FeaturesOfInterest have no shape: the service records or derives
them, so an update or delete of one is ``405`` (``update._writable``)."""
