"""Which datastreams count traffic, and what: their observed property says so.

A traffic datastream is a ``count`` datastream whose observed property's ``definition`` is
``https://kommune.heidenheim.de/def/traffic/<mode>/<direction>`` with ``mode`` one of
``pedestrian``, ``bicycle``, ``car`` (the pilots' counting camera and WLAN counter deliver one
datastream per mode and direction; a reading is one interval's count). SensorThings clients see
the same: "Bicycles, inbound" is an observed property. The direction is free text
(``in``/``out``, ``north``…); a definition without one is direction ``total``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Select, func, literal, select

from kommune_sensors.devices.models import Datastream, DatastreamKind, ObservedProperty, Thing

TRAFFIC_DEFINITION = "https://kommune.heidenheim.de/def/traffic/"


class Mode(StrEnum):
    PEDESTRIAN = "pedestrian"
    BICYCLE = "bicycle"
    CAR = "car"


def traffic_definition(mode: Mode, direction: str) -> str:
    return f"{TRAFFIC_DEFINITION}{mode.value}/{direction}"


def traffic_streams() -> Select[tuple[int, int, str, str, str]]:
    """``(datastream_id, thing_id, thing name, mode, direction)`` of every traffic datastream."""
    rest = func.substr(ObservedProperty.definition, len(TRAFFIC_DEFINITION) + 1)
    mode = func.split_part(rest, "/", 1)
    direction = func.coalesce(func.nullif(func.split_part(rest, "/", 2), ""), literal("total"))
    return (
        select(
            Datastream.id.label("datastream_id"),
            Datastream.thing_id.label("thing_id"),
            Thing.name.label("thing_name"),
            mode.label("mode"),
            direction.label("direction"),
        )
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(Thing, Thing.id == Datastream.thing_id)
        .where(
            Datastream.kind == DatastreamKind.COUNT.value,
            ObservedProperty.definition.startswith(TRAFFIC_DEFINITION, autoescape=True),
            mode.in_([m.value for m in Mode]),
        )
    )
