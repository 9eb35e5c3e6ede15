"""A SensorThings client library from PyPI (frost-sta-client) against the service over real HTTP:
create a thing with its location, a datastream with sensor and observed property, observations,
and read them back with $filter, $orderby, $top, $count and $expand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import frost_sta_client as fsc  # type: ignore[import-untyped]
import geojson  # type: ignore[import-untyped]
import pytest_asyncio
import requests
from frost_sta_client.service.auth_handler import AuthHandler  # type: ignore[import-untyped]

from kommune.testing.servers import RunningServer
from kommune.testing.service import Personas
from kommune_sensors.main import create_app
from kommune_sensors.settings import SensorsSettings


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request


class BearerHandler(AuthHandler):  # type: ignore[misc]
    """The library knows basic auth only; our services take OIDC bearer tokens."""

    def __init__(self, header: str) -> None:
        super().__init__()
        self.header = header

    def add_auth_header(self) -> BearerAuth:
        return BearerAuth(self.header)


@pytest_asyncio.fixture(loop_scope="session")
async def server(settings: SensorsSettings, issuer_transport: Any) -> AsyncIterator[str]:
    """A second instance of the service on a loopback port (no writer: the session's app has
    one; no relay: the same)."""
    own = settings.model_copy(update={"writer_enabled": False, "relay_enabled": False})
    async with RunningServer(create_app(own, http_transport=issuer_transport)) as running:
        yield running.url


def client_roundtrip(base: str, auth: str) -> dict[str, Any]:
    service = fsc.SensorThingsService(f"{base}/sta/v1.1", auth_handler=BearerHandler(auth))
    thing = fsc.Thing(
        name="Unterflurbehälter Schlossarkaden",
        description="Glas",
        locations=[
            fsc.Location(
                name="Schlossarkaden",
                description="Eingang Ost",
                encoding_type="application/geo+json",
                location=geojson.Point((10.1550, 48.6790)),
            )
        ],
    )
    service.create(thing)
    datastream = fsc.Datastream(
        name="Füllstand",
        description="Ultraschall",
        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        unit_of_measurement=fsc.UnitOfMeasurement(
            name="percent", symbol="%", definition="http://unitsofmeasure.org/ucum.html#para-29"
        ),
        properties={"kind": "fill_level"},
        thing=thing,
        sensor=fsc.Sensor(
            name="Ultraschallsensor", description="-", encoding_type="text/plain", metadata="-"
        ),
        observed_property=fsc.ObservedProperty(
            name="Fill level", definition="urn:kommune:fill-level-client", description="-"
        ),
    )
    service.create(datastream)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    for step, level in enumerate([12.5, 30.0, 55.0, 71.0]):
        observation = fsc.Observation(
            result=level,
            phenomenon_time=(start + timedelta(minutes=30 * step)).isoformat(),
            datastream=datastream,
        )
        service.create(observation)
    query = (
        datastream.get_observations()
        .query()
        .filter("result gt 20")
        .orderby("result", "DESC")
        .top(2)
        .count()
    )
    page = query.list()
    expanded = service.things().query().filter(f"id eq {thing.id}").expand("Locations").list()
    return {
        "thing_id": thing.id,
        "datastream_id": datastream.id,
        "results": [o.result for o in page.entities],
        "count": page.count,
        "next": page.next_link,
        "locations": [
            loc.location
            for t in expanded.entities
            for loc in (t.locations.entities if t.locations else [])
        ],
    }


async def test_frost_client_creates_and_reads_back(server: str, people: Personas) -> None:
    auth = people.operator.headers["Authorization"]
    got = await asyncio.to_thread(client_roundtrip, server, auth)
    assert isinstance(got["thing_id"], int)
    assert isinstance(got["datastream_id"], int)
    assert got["results"] == [71.0, 55.0]
    assert got["count"] == 3
    assert got["next"] is not None
    assert len(got["locations"]) == 1


def client_updates_and_deletes(base: str, auth: str) -> dict[str, Any]:
    """The library's update (a PUT of the whole entity) and delete, on entities it found."""
    service = fsc.SensorThingsService(f"{base}/sta/v1.1", auth_handler=BearerHandler(auth))
    thing = fsc.Thing(name="Zählstelle Hauptstraße", description="WLAN")
    service.create(thing)
    datastream = fsc.Datastream(
        name="Fußgänger",
        description="beide Richtungen",
        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        unit_of_measurement=fsc.UnitOfMeasurement(name="count", symbol="1", definition="urn:count"),
        properties={"kind": "count"},
        thing=thing,
        sensor=fsc.Sensor(name="WLAN-Zähler", description="-", encoding_type="text/plain"),
        observed_property=fsc.ObservedProperty(
            name="Pedestrians", definition="urn:kommune:pedestrians-client", description="-"
        ),
    )
    service.create(datastream)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    observation = fsc.Observation(
        result=17, phenomenon_time=when.isoformat(), datastream=datastream
    )
    service.create(observation)

    found = service.things().find(thing.id)
    found.name = "Zählstelle Hauptstraße Nord"
    service.update(found)
    stream = service.datastreams().find(datastream.id)
    stream.description = "stadteinwärts"
    service.update(stream)
    reading = service.observations().find(observation.id)
    reading.result = 19
    service.update(reading)
    after = {
        "thing": service.things().find(thing.id).name,
        "datastream": service.datastreams().find(datastream.id).description,
        "result": service.observations().find(observation.id).result,
    }
    service.delete(reading)
    after["observations_left"] = (
        service.datastreams().find(datastream.id).get_observations().query().count().list().count
    )
    service.delete(found)
    try:
        service.datastreams().find(datastream.id)
    except requests.exceptions.HTTPError as error:  # the library re-raises the HTTP error
        after["datastream_gone"] = getattr(error.response, "status_code", None) == 404
    return after


async def test_frost_client_updates_and_deletes(server: str, people: Personas) -> None:
    auth = people.operator.headers["Authorization"]
    got = await asyncio.to_thread(client_updates_and_deletes, server, auth)
    assert got == {
        "thing": "Zählstelle Hauptstraße Nord",
        "datastream": "stadteinwärts",
        "result": 19,
        "observations_left": 0,
        "datastream_gone": True,
    }
