"""Registry request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from kommune.schemas import InputModel, OutputModel, Text
from kommune_sensors.devices.models import DatastreamKind

Name = Annotated[str, Text(1, 200)]
Description = Annotated[str, Text(1, 2000, multi_line=True)]
PropertyKey = Annotated[str, Text(1, 50)]
PropertyValue = Annotated[str, Text(1, 200)] | bool | Annotated[float, Field(allow_inf_nan=False)]
District = Annotated[str, Text(1, 100)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class LocationIn(InputModel):
    name: Name
    description: Description | None = None
    lat: Latitude
    lon: Longitude


class ThingCreate(InputModel):
    name: Name
    description: Description | None = None
    district: District | None = Field(default=None, description="Heidenheim district, if any.")
    published: bool = Field(
        default=False, description="Readable without a token (SensorThings, open data)."
    )
    properties: dict[PropertyKey, PropertyValue] = Field(default_factory=dict, max_length=20)
    location: LocationIn | None = None


class LocationOut(OutputModel):
    id: int
    name: str
    lat: float
    lon: float


class ThingOut(OutputModel):
    id: int
    name: str
    description: str
    district: str | None
    published: bool
    properties: dict[str, Any]
    location: LocationOut | None
    created_at: datetime


class UnitIn(InputModel):
    name: Name
    symbol: Annotated[str, Text(1, 20)]
    definition: Annotated[str, Text(1, 500)]


class ObservedPropertyIn(InputModel):
    name: Name
    definition: Annotated[str, Text(1, 500)] = Field(
        description="URI of the property; a property with the same definition is reused."
    )
    description: Description | None = None


class SensorIn(InputModel):
    name: Name
    description: Description | None = None
    encoding_type: Annotated[str, Text(1, 100)] = "text/plain"
    metadata: Annotated[str, Text(1, 2000)] | None = None


class DatastreamCreate(InputModel):
    name: Name
    description: Description | None = None
    kind: DatastreamKind = Field(
        description="fill_level: 0-100 %; count: >= 0; measurement: any finite number."
    )
    unit: UnitIn
    observed_property: ObservedPropertyIn
    sensor: SensorIn


class LatestOut(OutputModel):
    phenomenon_time: datetime
    result: float


class DatastreamOut(OutputModel):
    id: int
    thing_id: int
    name: str
    description: str
    kind: DatastreamKind
    unit: dict[str, Any]
    sensor_id: int
    observed_property_id: int
    observation_count: int = Field(description="Readings stored (kept by the writer, no scan).")
    latest: LatestOut | None


class DeviceKeyOut(OutputModel):
    id: uuid.UUID
    thing_id: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class IssuedDeviceKey(DeviceKeyOut):
    key: str = Field(description="The key itself: shown once, only a hash of it is kept.")
