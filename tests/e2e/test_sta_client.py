"""A SensorThings client library from PyPI (frost-sta-client) against the platform through the
gateway, as a city's GIS or dashboard would use it: create a thing with its location, a
datastream with sensor and observed property, observations; read them back with $filter,
$orderby, $top, $count and $expand; update (the library PUTs whole entities) and delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import frost_sta_client as fsc  # type: ignore[import-untyped]
import geojson  # type: ignore[import-untyped]
import httpx
import pytest_asyncio
import requests
from frost_sta_client.service.auth_handler import AuthHandler  # type: ignore[import-untyped]

from kommune.testing.infra import CreateDatabase
from kommune.testing.platform import AppUnderTest, running_platform
from kommune_sensors.main import create_app as create_sensors_app
from kommune_sensors.settings import SensorsSettings

from .conftest import GATEWAY, gateway_dev_issuer, platform_settings

SENSORS = AppUnderTest(
    "sensors",
    create_sensors_app,
    SensorsSettings,
    Path(__file__).resolve().parents[2] / "services" / "sensors" / "alembic.ini",
)


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request


class BearerHandler(AuthHandler):  # type: ignore[misc]
    """The library knows basic auth only; the platform takes OIDC bearer tokens."""

    def __init__(self, header: str) -> None:
        super().__init__()
        self.header = header

    def add_auth_header(self) -> BearerAuth:
        return BearerAuth(self.header)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway(
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
    tmp_path_factory: Any,
) -> AsyncIterator[str]:
    """The gateway with the sensors service behind it (the other upstreams not deployed)."""
    key_file = tmp_path_factory.mktemp("sta-issuer") / "jwk.json"
    async with running_platform(
        create_database,
        gateway=GATEWAY,
        services=[SENSORS],
        common=platform_settings(kafka_bootstrap_servers, kafka_topic_prefix),
        identity=gateway_dev_issuer(key_file),
        undeployed=("ideas", "documents", "egov"),
        label="sta",
    ) as running:
        yield running.gateway_url


async def operator_token(gateway_url: str) -> str:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post(
            "/auth/dev/token", json={"sub": "gis-import", "roles": ["operator"], "name": "GIS"}
        )
    assert response.status_code == 200, response.text
    return f"Bearer {response.json()['access_token']}"


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


async def test_frost_client_creates_and_reads_back_through_the_gateway(gateway: str) -> None:
    auth = await operator_token(gateway)
    got = await asyncio.to_thread(client_roundtrip, gateway, auth)
    assert isinstance(got["thing_id"], int)
    assert isinstance(got["datastream_id"], int)
    assert got["results"] == [71.0, 55.0]
    assert got["count"] == 3
    # The next page is the gateway's, not the service's own address: a client follows it there.
    assert got["next"].startswith(f"{gateway}/sta/v1.1/"), got["next"]
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


async def test_frost_client_updates_and_deletes_through_the_gateway(gateway: str) -> None:
    auth = await operator_token(gateway)
    got = await asyncio.to_thread(client_updates_and_deletes, gateway, auth)
    assert got == {
        "thing": "Zählstelle Hauptstraße Nord",
        "datastream": "stadteinwärts",
        "result": 19,
        "observations_left": 0,
        "datastream_gone": True,
    }
