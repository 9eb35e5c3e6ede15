"""Entities as SensorThings JSON: ``@iot.id``, ``@iot.selfLink``, properties, navigation links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kommune_sensors.devices.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
)
from kommune_sensors.ingestion.models import Observation
from kommune_sensors.sta.entities import EntitySet


def properties_of(row: Any) -> dict[str, Any]:
    if isinstance(row, Thing):
        return {"name": row.name, "description": row.description, "properties": row.properties}
    if isinstance(row, Location):
        return {
            "name": row.name,
            "description": row.description,
            "encodingType": row.encoding_type,
            "location": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
        }
    if isinstance(row, FeatureOfInterest):
        return {
            "name": row.name,
            "description": row.description,
            "encodingType": row.encoding_type,
            "feature": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
        }
    if isinstance(row, HistoricalLocation):
        return {"time": _instant(row.time)}
    if isinstance(row, Datastream):
        return {
            "name": row.name,
            "description": row.description,
            "observationType": row.observation_type,
            "unitOfMeasurement": row.unit_of_measurement,
        }
    if isinstance(row, Sensor):
        return {
            "name": row.name,
            "description": row.description,
            "encodingType": row.encoding_type,
            "metadata": row.metadata_,
        }
    if isinstance(row, ObservedProperty):
        return {"name": row.name, "definition": row.definition, "description": row.description}
    if isinstance(row, Observation):
        return {
            "phenomenonTime": _instant(row.phenomenon_time),
            "resultTime": None,
            "result": row.result,
            "parameters": row.parameters,
        }
    raise TypeError(type(row).__name__)


def _instant(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def serialize(entity: EntitySet, row: Any, base: str, selected: list[str]) -> dict[str, Any]:
    self_link = f"{base}/{entity.name}({row.id})"
    body: dict[str, Any] = {"@iot.id": row.id, "@iot.selfLink": self_link}
    wanted = set(selected) - {"id", "@iot.id"}
    for name, value in properties_of(row).items():
        if not selected or name in wanted:
            body[name] = value
    if not selected:
        for nav in entity.navigation:
            body[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
    return body
