# Generated from schemas/events/sensors/ by schemas/tools/generate.py: do not edit.
# Regenerate with `make schemas`.

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SensorsEventType(StrEnum):
    """
    The event types the sensors service publishes.
    """

    DE_KOMMUNE_SENSORS_ALERT_RAISED_V1 = "de.kommune.sensors.alert.raised.v1"
    DE_KOMMUNE_SENSORS_ALERT_RESOLVED_V1 = "de.kommune.sensors.alert.resolved.v1"
    DE_KOMMUNE_SENSORS_OBSERVATION_RECORDED_V1 = "de.kommune.sensors.observation.recorded.v1"


class Location(BaseModel):
    """
    Where the thing is (WGS 84).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    lat: Annotated[float, Field(description="Latitude.")]
    lon: Annotated[float, Field(description="Longitude.")]


class AlertResolvedV1(BaseModel):
    """
    An alert is over (the container was emptied, the night activity ended).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    alert_id: Annotated[UUID, Field(description="Id of the alert.")]
    resolved_at: Annotated[AwareDatetime, Field(description="When it ended.")]


class AlertKind(StrEnum):
    """
    The kinds of sensor alerts.
    """

    WASTE_CONTAINER_FULL = "waste_container_full"
    SCHOOLYARD_NIGHT_ACTIVITY = "schoolyard_night_activity"


class Reading(BaseModel):
    """
    One reading.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    phenomenon_time: Annotated[
        AwareDatetime, Field(description="When the phenomenon was observed.")
    ]
    result: Annotated[float, Field(description="The value (unit: the datastream's).")]
    parameters: Annotated[
        dict[str, Any] | None,
        Field(
            description="Free parameters of the reading (no identifiers: refused at ingestion)."
        ),
    ] = None


class AlertRaisedV1(BaseModel):
    """
    A sensor crossed its threshold: a waste container is full, or a schoolyard shows activity at night. Raised once per episode (not per reading). Counts and places only, no personal data; visible to city staff.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    alert_id: Annotated[
        UUID, Field(description="Id of the alert (also the CloudEvent subject).")
    ]
    kind: Annotated[AlertKind, Field(description="What happened.")]
    thing_id: Annotated[
        int | str, Field(description="Id of the thing (container, schoolyard counter).")
    ]
    thing_name: Annotated[
        str, Field(description="Name of the thing.", max_length=200, min_length=1)
    ]
    location: Annotated[Location, Field(description="Where the thing is (WGS 84).")]
    district: Annotated[
        str | None,
        Field(description="The Heidenheim district, if known.", max_length=100),
    ]
    value: Annotated[float, Field(description="The value that crossed the threshold.")]
    threshold: Annotated[float, Field(description="The threshold it crossed.")]
    raised_at: Annotated[AwareDatetime, Field(description="When the alert was raised.")]


class ObservationsRecordedV1(BaseModel):
    """
    Validated readings of one datastream, accepted by the ingestion API (one record per datastream and request, keyed by the datastream). Counts and measurements only: the privacy filter refused every batch carrying an identifier before this was written. Internal to the sensors service (its writers store it).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    datastream_id: Annotated[
        int, Field(description="Id of the datastream (also the record key).", ge=1)
    ]
    observations: Annotated[
        list[Reading],
        Field(
            description="The readings, in request order.",
            max_length=100000,
            min_length=1,
        ),
    ]
