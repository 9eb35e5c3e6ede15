"""Registry queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kommune.errors import NotFound
from kommune.pagination import Ordering, PageRequest, SortKey
from kommune.repository import Repository
from kommune_sensors.devices.models import (
    Datastream,
    DeviceKey,
    Location,
    ObservedProperty,
    Thing,
    ThingLocation,
)

THINGS_BY_ID = Ordering("id", (SortKey(Thing.id, "int", descending=False),))
DATASTREAMS_BY_ID = Ordering("id", (SortKey(Datastream.id, "int", descending=False),))


class ThingRepository(Repository[Thing]):
    model = Thing
    not_found = "No such thing."

    async def page(self, page: PageRequest) -> tuple[list[Thing], str | None]:
        return await self.paginate(select(Thing), THINGS_BY_ID, page)

    async def locations_of(self, thing_ids: list[int]) -> dict[int, Location]:
        """The (first) location of each thing."""
        rows = await self.session.execute(
            select(ThingLocation.thing_id, Location)
            .join(Location, Location.id == ThingLocation.location_id)
            .where(ThingLocation.thing_id.in_(thing_ids))
            .order_by(ThingLocation.thing_id, Location.id)
        )
        found: dict[int, Location] = {}
        for thing_id, location in rows.all():
            found.setdefault(thing_id, location)
        return found


class DatastreamRepository(Repository[Datastream]):
    model = Datastream
    not_found = "No such datastream."

    async def page_of_thing(
        self, thing_id: int, page: PageRequest
    ) -> tuple[list[Datastream], str | None]:
        statement = select(Datastream).where(Datastream.thing_id == thing_id)
        return await self.paginate(statement, DATASTREAMS_BY_ID, page, filters=str(thing_id))

    async def observed_property_by_definition(self, definition: str) -> ObservedProperty | None:
        result = await self.session.execute(
            select(ObservedProperty).where(ObservedProperty.definition == definition)
        )
        return result.scalar_one_or_none()


class DeviceKeyRepository(Repository[DeviceKey]):
    model = DeviceKey
    not_found = "No such device key."

    async def of_thing(self, thing_id: int) -> list[DeviceKey]:
        result = await self.session.execute(
            select(DeviceKey)
            .where(DeviceKey.thing_id == thing_id)
            .order_by(DeviceKey.created_at.desc(), DeviceKey.id)
        )
        return list(result.scalars())

    async def get_of_thing(
        self, thing_id: int, key_id: uuid.UUID, *, for_update: bool = False
    ) -> DeviceKey:
        key = await self.get(key_id, for_update=for_update)
        if key.thing_id != thing_id:
            raise NotFound(self.not_found)  # another thing's key: as if it did not exist
        return key
