"""Registry rules: operators and administrators manage, staff read; keys are shown once."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.errors import Conflict, NotFound
from kommune.pagination import PageRequest
from kommune_sensors.access import Permission, require
from kommune_sensors.clock import utc_now
from kommune_sensors.device_auth import new_key
from kommune_sensors.devices.history import record_locations
from kommune_sensors.devices.models import (
    Datastream,
    DatastreamKind,
    DeviceKey,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
    ThingLocation,
)
from kommune_sensors.devices.repository import (
    DatastreamRepository,
    DeviceKeyRepository,
    ThingRepository,
)
from kommune_sensors.devices.schemas import (
    DatastreamCreate,
    DatastreamOut,
    DeviceKeyOut,
    IssuedDeviceKey,
    LatestOut,
    LocationOut,
    ThingCreate,
    ThingOut,
)


def datastream_out(stream: Datastream) -> DatastreamOut:
    latest = None
    if stream.latest_phenomenon_time is not None and stream.latest_result is not None:
        latest = LatestOut(
            phenomenon_time=stream.latest_phenomenon_time, result=stream.latest_result
        )
    return DatastreamOut(
        id=stream.id,
        thing_id=stream.thing_id,
        name=stream.name,
        description=stream.description,
        kind=DatastreamKind(stream.kind),
        unit=stream.unit_of_measurement,
        sensor_id=stream.sensor_id,
        observed_property_id=stream.observed_property_id,
        observation_count=stream.observation_count,
        latest=latest,
    )


class DeviceService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.things = ThingRepository(session)
        self.datastreams = DatastreamRepository(session)
        self.keys = DeviceKeyRepository(session)

    # -- things ----------------------------------------------------------------------------------

    async def _things_out(self, things: list[Thing]) -> list[ThingOut]:
        locations = await self.things.locations_of([thing.id for thing in things])
        out = []
        for thing in things:
            location = locations.get(thing.id)
            out.append(
                ThingOut(
                    id=thing.id,
                    name=thing.name,
                    description=thing.description,
                    district=thing.district,
                    published=thing.published,
                    properties=thing.properties,
                    location=None
                    if location is None
                    else LocationOut(
                        id=location.id,
                        name=location.name,
                        lat=location.latitude,
                        lon=location.longitude,
                    ),
                    created_at=thing.created_at,
                )
            )
        return out

    async def create_thing(self, principal: Principal, body: ThingCreate) -> ThingOut:
        require(principal, Permission.MANAGE_DEVICES)
        thing = await self.things.add(
            Thing(
                name=body.name,
                description=body.description or "",
                district=body.district,
                published=body.published,
                properties=dict(body.properties),
            )
        )
        if body.location is not None:
            location = Location(
                name=body.location.name,
                description=body.location.description or "",
                latitude=body.location.lat,
                longitude=body.location.lon,
            )
            self.session.add(location)
            await self.session.flush()
            self.session.add(ThingLocation(thing_id=thing.id, location_id=location.id))
            await self.session.flush()
            await record_locations(self.session, thing.id, [location.id])
        [out] = await self._things_out([thing])
        return out

    async def browse_things(
        self, principal: Principal, page: PageRequest
    ) -> tuple[list[ThingOut], str | None]:
        require(principal, Permission.READ_DATA)
        things, next_cursor = await self.things.page(page)
        return await self._things_out(things), next_cursor

    async def get_thing(self, principal: Principal, thing_id: int) -> ThingOut:
        require(principal, Permission.READ_DATA)
        [out] = await self._things_out([await self.things.get(thing_id)])
        return out

    # -- datastreams -----------------------------------------------------------------------------

    async def create_datastream(
        self,
        principal: Principal,
        thing_id: int,
        body: DatastreamCreate,
        *,
        sensor_id: int | None = None,
        observed_property_id: int | None = None,
    ) -> DatastreamOut:
        """``sensor_id``/``observed_property_id`` link existing ones instead of the body's
        (SensorThings clients reference entities by ``@iot.id``)."""
        require(principal, Permission.MANAGE_DEVICES)
        await self.things.get(thing_id)
        if observed_property_id is not None:
            prop = await self.session.get(ObservedProperty, observed_property_id)
            if prop is None:
                raise NotFound("No such observed property.")
        else:
            prop = await self.datastreams.observed_property_by_definition(
                body.observed_property.definition
            )
        if prop is None:
            prop = ObservedProperty(
                name=body.observed_property.name,
                definition=body.observed_property.definition,
                description=body.observed_property.description or "",
            )
            self.session.add(prop)
        sensor = None if sensor_id is None else await self.session.get(Sensor, sensor_id)
        if sensor_id is not None and sensor is None:
            raise NotFound("No such sensor.")
        if sensor is None:
            sensor = Sensor(
                name=body.sensor.name,
                description=body.sensor.description or "",
                encoding_type=body.sensor.encoding_type,
                metadata_=body.sensor.metadata or "",
            )
            self.session.add(sensor)
        await self.session.flush()
        stream = await self.datastreams.add(
            Datastream(
                name=body.name,
                description=body.description or "",
                kind=body.kind.value,
                unit_of_measurement=body.unit.model_dump(),
                thing_id=thing_id,
                sensor_id=sensor.id,
                observed_property_id=prop.id,
                observation_count=0,
            )
        )
        return datastream_out(stream)

    async def browse_datastreams(
        self, principal: Principal, thing_id: int, page: PageRequest
    ) -> tuple[list[DatastreamOut], str | None]:
        require(principal, Permission.READ_DATA)
        await self.things.get(thing_id)
        streams, next_cursor = await self.datastreams.page_of_thing(thing_id, page)
        return [datastream_out(s) for s in streams], next_cursor

    async def get_datastream(self, principal: Principal, datastream_id: int) -> DatastreamOut:
        require(principal, Permission.READ_DATA)
        return datastream_out(await self.datastreams.get(datastream_id))

    # -- keys ------------------------------------------------------------------------------------

    async def issue_key(self, principal: Principal, thing_id: int) -> IssuedDeviceKey:
        require(principal, Permission.MANAGE_DEVICES)
        await self.things.get(thing_id)
        return await self._issue(principal, thing_id)

    async def _issue(self, principal: Principal, thing_id: int) -> IssuedDeviceKey:
        key_id = uuid.uuid4()
        text, secret_digest = new_key(key_id)
        key = await self.keys.add(
            DeviceKey(
                id=key_id,
                thing_id=thing_id,
                secret_sha256=secret_digest,
                created_by=principal.sub,
                created_at=utc_now(),
            )
        )
        return IssuedDeviceKey(**DeviceKeyOut.model_validate(key).model_dump(), key=text)

    async def list_keys(self, principal: Principal, thing_id: int) -> list[DeviceKeyOut]:
        require(principal, Permission.MANAGE_DEVICES)
        await self.things.get(thing_id)
        return [DeviceKeyOut.model_validate(key) for key in await self.keys.of_thing(thing_id)]

    async def revoke_key(self, principal: Principal, thing_id: int, key_id: uuid.UUID) -> None:
        require(principal, Permission.MANAGE_DEVICES)
        key = await self.keys.get_of_thing(thing_id, key_id, for_update=True)
        if key.revoked_at is not None:
            raise Conflict("This key is revoked already.")
        key.revoked_at = utc_now()
        await self.session.flush()

    async def rotate_key(
        self, principal: Principal, thing_id: int, key_id: uuid.UUID
    ) -> IssuedDeviceKey:
        """A new key for the device; the old one stops working in the same transaction."""
        await self.revoke_key(principal, thing_id, key_id)
        return await self._issue(principal, thing_id)
