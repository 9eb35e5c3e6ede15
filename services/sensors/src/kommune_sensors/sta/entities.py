"""The SensorThings entity sets over the service's tables: properties, navigation, visibility.

Each set says which STA property is which column (the only names ``$filter``, ``$orderby`` and
``$select`` accept), how it navigates to the others, and which of its rows an anonymous caller
sees (those of published things). HistoricalLocations are rows written when a thing gets its
locations; FeaturesOfInterest are the Locations read again (same id): an observation's feature
is the (first) location of its datastream's thing, derived on read so the writer stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, SQLColumnExpression, exists, func, select, true

from kommune_sensors.devices.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    HistoricalLocationLocation,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
    ThingLocation,
)
from kommune_sensors.ingestion.models import Observation
from kommune_sensors.sta.filter import FilterContext, FilterError

Column = SQLColumnExpression[Any]
"""A column, an ORM attribute or an expression."""


@dataclass(frozen=True)
class Navigation:
    """``<source>(id)/<name>``: the target set and the condition joining a target row to a
    source row (``link(source_id_column)``)."""

    target: str
    many: bool
    link: Callable[[Column], Column]
    """Condition on the target's rows, given the source's id (a value or a column)."""
    foreign_key: Callable[[], Column] | None = None
    """For a to-one navigation, the source's column holding the target id (for $filter paths)."""


@dataclass(frozen=True)
class EntitySet:
    name: str
    model: Any
    id_column: Column
    properties: dict[str, Column]
    navigation: dict[str, Navigation] = field(default_factory=dict)
    published: Callable[[], Column] = lambda: true()
    """Which rows anonymous callers see."""

    def base(self) -> Select[Any]:
        return select(self.model)

    def context(self) -> FilterContext:
        return FilterContext(resolve=self.resolve)

    def resolve(self, path: list[str]) -> Column:
        if len(path) == 1:
            if path[0] in self.properties:
                return self.properties[path[0]]
            if path[0] == "id" or path[0] == "@iot.id":
                return self.id_column
        elif path[0] == "properties" and len(path) == 2 and "properties" in self.properties:
            return self.properties["properties"][path[1]].astext  # type: ignore[no-any-return]
        elif path[0] in self.navigation:
            nav = self.navigation[path[0]]
            if nav.many or nav.foreign_key is None:
                raise FilterError(f"{path[0]} is a collection; filter on it is not supported.")
            target = SETS[nav.target]
            if path[1:] in (["id"], ["@iot.id"]):
                return nav.foreign_key()
            inner = target.resolve(path[1:])
            return select(inner).where(target.id_column == nav.foreign_key()).scalar_subquery()
        raise FilterError(f"{self.name} has no property {'/'.join(path)!r}.")


def _thing_published(thing_id: Column) -> Column:
    return exists().where(Thing.id == thing_id, Thing.published.is_(True))


def _datastream_published(datastream_id: Column) -> Column:
    return exists().where(
        Datastream.id == datastream_id, Datastream.thing_id == Thing.id, Thing.published.is_(True)
    )


SETS: dict[str, EntitySet] = {}


def _register(entity_set: EntitySet) -> None:
    SETS[entity_set.name] = entity_set


_register(
    EntitySet(
        name="Things",
        model=Thing,
        id_column=Thing.id,
        properties={
            "name": Thing.name,
            "description": Thing.description,
            "properties": Thing.properties,
        },
        navigation={
            "Locations": Navigation(
                "Locations",
                True,
                lambda tid: (
                    exists()
                    .where(ThingLocation.location_id == Location.id, ThingLocation.thing_id == tid)
                    .correlate_except(ThingLocation)
                ),
            ),
            "Datastreams": Navigation("Datastreams", True, lambda tid: Datastream.thing_id == tid),
            "HistoricalLocations": Navigation(
                "HistoricalLocations", True, lambda tid: HistoricalLocation.thing_id == tid
            ),
        },
        published=lambda: Thing.published.is_(True),
    )
)
_register(
    EntitySet(
        name="Locations",
        model=Location,
        id_column=Location.id,
        properties={
            "name": Location.name,
            "description": Location.description,
            "encodingType": Location.encoding_type,
        },
        navigation={
            "Things": Navigation(
                "Things",
                True,
                lambda lid: (
                    exists()
                    .where(ThingLocation.thing_id == Thing.id, ThingLocation.location_id == lid)
                    .correlate_except(ThingLocation)
                ),
            ),
            "HistoricalLocations": Navigation(
                "HistoricalLocations",
                True,
                lambda lid: (
                    exists()
                    .where(
                        HistoricalLocationLocation.historical_location_id == HistoricalLocation.id,
                        HistoricalLocationLocation.location_id == lid,
                    )
                    .correlate_except(HistoricalLocationLocation)
                ),
            ),
        },
        published=lambda: _location_published(Location.id),
    )
)
_register(
    EntitySet(
        name="Datastreams",
        model=Datastream,
        id_column=Datastream.id,
        properties={
            "name": Datastream.name,
            "description": Datastream.description,
            "observationType": Datastream.observation_type,
            "unitOfMeasurement": Datastream.unit_of_measurement,
        },
        navigation={
            "Thing": Navigation(
                "Things",
                False,
                lambda did: Thing.id == _fk(did, Datastream.thing_id),
                lambda: Datastream.thing_id,
            ),
            "Sensor": Navigation(
                "Sensors",
                False,
                lambda did: Sensor.id == _fk(did, Datastream.sensor_id),
                lambda: Datastream.sensor_id,
            ),
            "ObservedProperty": Navigation(
                "ObservedProperties",
                False,
                lambda did: ObservedProperty.id == _fk(did, Datastream.observed_property_id),
                lambda: Datastream.observed_property_id,
            ),
            "Observations": Navigation(
                "Observations", True, lambda did: Observation.datastream_id == did
            ),
        },
        published=lambda: _thing_published(Datastream.thing_id),
    )
)
_register(
    EntitySet(
        name="Sensors",
        model=Sensor,
        id_column=Sensor.id,
        properties={
            "name": Sensor.name,
            "description": Sensor.description,
            "encodingType": Sensor.encoding_type,
            "metadata": Sensor.metadata_,
        },
        navigation={
            "Datastreams": Navigation("Datastreams", True, lambda sid: Datastream.sensor_id == sid)
        },
        published=lambda: exists().where(
            Datastream.sensor_id == Sensor.id,
            Datastream.thing_id == Thing.id,
            Thing.published.is_(True),
        ),
    )
)
_register(
    EntitySet(
        name="ObservedProperties",
        model=ObservedProperty,
        id_column=ObservedProperty.id,
        properties={
            "name": ObservedProperty.name,
            "definition": ObservedProperty.definition,
            "description": ObservedProperty.description,
        },
        navigation={
            "Datastreams": Navigation(
                "Datastreams", True, lambda pid: Datastream.observed_property_id == pid
            )
        },
        published=lambda: exists().where(
            Datastream.observed_property_id == ObservedProperty.id,
            Datastream.thing_id == Thing.id,
            Thing.published.is_(True),
        ),
    )
)
_register(
    EntitySet(
        name="Observations",
        model=Observation,
        id_column=Observation.id,
        properties={
            "phenomenonTime": Observation.phenomenon_time,
            "result": Observation.result,
            "parameters": Observation.parameters,
        },
        navigation={
            "Datastream": Navigation(
                "Datastreams",
                False,
                lambda oid: Datastream.id == _observation_datastream(oid),
                lambda: Observation.datastream_id,
            ),
            "FeatureOfInterest": Navigation(
                "FeaturesOfInterest",
                False,
                lambda oid: FeatureOfInterest.id == _feature_of(_observation_datastream(oid)),
                lambda: _feature_of(Observation.datastream_id),
            ),
        },
        published=lambda: _datastream_published(Observation.datastream_id),
    )
)
_register(
    EntitySet(
        name="HistoricalLocations",
        model=HistoricalLocation,
        id_column=HistoricalLocation.id,
        properties={"time": HistoricalLocation.time},
        navigation={
            "Thing": Navigation(
                "Things",
                False,
                lambda hid: Thing.id == _history_thing(hid),
                lambda: HistoricalLocation.thing_id,
            ),
            "Locations": Navigation(
                "Locations",
                True,
                lambda hid: (
                    exists()
                    .where(
                        HistoricalLocationLocation.location_id == Location.id,
                        HistoricalLocationLocation.historical_location_id == hid,
                    )
                    .correlate_except(HistoricalLocationLocation)
                ),
            ),
        },
        published=lambda: _thing_published(HistoricalLocation.thing_id),
    )
)
_register(
    EntitySet(
        name="FeaturesOfInterest",
        model=FeatureOfInterest,
        id_column=FeatureOfInterest.id,
        properties={
            "name": FeatureOfInterest.name,
            "description": FeatureOfInterest.description,
            "encodingType": FeatureOfInterest.encoding_type,
        },
        navigation={
            "Observations": Navigation(
                "Observations",
                True,
                lambda fid: Observation.datastream_id.in_(
                    select(Datastream.id)
                    .join(ThingLocation, ThingLocation.thing_id == Datastream.thing_id)
                    .where(ThingLocation.location_id == fid)
                    .correlate_except(Datastream, ThingLocation)
                ),
            ),
        },
        published=lambda: _location_published(FeatureOfInterest.id),
    )
)

ORDER = (
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
)


def _fk(datastream_id: Column, column: Column) -> Column:
    """The foreign key ``column`` of the datastream ``datastream_id``."""
    return (
        select(column)
        .where(Datastream.id == datastream_id)
        .correlate_except(Datastream)
        .scalar_subquery()
    )


def _observation_datastream(observation_id: Column) -> Column:
    return (
        select(Observation.datastream_id)
        .where(Observation.id == observation_id)
        .correlate_except(Observation)
        .scalar_subquery()
    )


def _history_thing(history_id: Column) -> Column:
    return (
        select(HistoricalLocation.thing_id)
        .where(HistoricalLocation.id == history_id)
        .correlate_except(HistoricalLocation)
        .scalar_subquery()
    )


def _location_published(location_id: Column) -> Column:
    return exists(
        select(ThingLocation.location_id)
        .join(Thing, Thing.id == ThingLocation.thing_id)
        .where(ThingLocation.location_id == location_id, Thing.published.is_(True))
    )


def _feature_of(datastream_id: Column) -> Column:
    """The FeatureOfInterest of a datastream's observations: its thing's first location."""
    return (
        select(func.min(ThingLocation.location_id))
        .join(Datastream, Datastream.thing_id == ThingLocation.thing_id)
        .where(Datastream.id == datastream_id)
        .correlate_except(ThingLocation, Datastream)
        .scalar_subquery()
    )
