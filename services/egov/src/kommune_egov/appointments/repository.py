"""Every appointment query, including the one that decides whether a place is still free."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_egov.appointments.models import (
    Appointment,
    AppointmentLocation,
    AppointmentOffer,
    AppointmentSlot,
    AppointmentStatus,
    OpeningRule,
)
from kommune_egov.appointments.planner import PlannedSlot

SLOTS_BY_START = Ordering(
    "start",
    (
        SortKey(AppointmentSlot.starts_at, "datetime", descending=False),
        SortKey(AppointmentSlot.id, "uuid", descending=False),
    ),
)
LOCATIONS_BY_CODE = Ordering(
    "code",
    (
        SortKey(AppointmentLocation.code, "str", descending=False),
        SortKey(AppointmentLocation.id, "uuid", descending=False),
    ),
)
NEWEST_FIRST = Ordering(
    "newest",
    (
        SortKey(Appointment.created_at, "datetime", descending=True),
        SortKey(Appointment.id, "uuid", descending=True),
    ),
)


class LocationRepository(Repository[AppointmentLocation]):
    model = AppointmentLocation
    not_found = "No such appointment location."

    async def by_code(self, code: str) -> AppointmentLocation | None:
        statement = select(AppointmentLocation).where(AppointmentLocation.code == code)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(self, page: PageRequest) -> tuple[list[AppointmentLocation], str | None]:
        return await self.paginate(select(AppointmentLocation), LOCATIONS_BY_CODE, page)

    async def openings(self, location_ids: Sequence[uuid.UUID]) -> list[OpeningRule]:
        statement = (
            select(OpeningRule)
            .where(OpeningRule.location_id.in_(location_ids))
            .order_by(OpeningRule.weekday, OpeningRule.opens)
        )
        return list((await self.session.execute(statement)).scalars())

    async def offers(self, location_ids: Sequence[uuid.UUID]) -> list[AppointmentOffer]:
        statement = (
            select(AppointmentOffer)
            .where(AppointmentOffer.location_id.in_(location_ids))
            .order_by(AppointmentOffer.service_code)
        )
        return list((await self.session.execute(statement)).scalars())


class SlotRepository(Repository[AppointmentSlot]):
    model = AppointmentSlot
    not_found = "No such slot."

    async def page(
        self,
        *,
        service: str | None,
        location: str | None,
        start: datetime,
        end: datetime,
        page: PageRequest,
    ) -> tuple[list[AppointmentSlot], str | None]:
        statement = select(AppointmentSlot).where(
            AppointmentSlot.starts_at >= start, AppointmentSlot.starts_at < end
        )
        if service is not None:
            statement = statement.where(AppointmentSlot.service_code == service)
        if location is not None:
            statement = statement.where(AppointmentSlot.location_code == location)
        filters = fingerprint(service, location, start.isoformat(), end.isoformat())
        return await self.paginate(statement, SLOTS_BY_START, page, filters=filters)

    async def add_planned(
        self, offer: AppointmentOffer, location_code: str, planned: Sequence[PlannedSlot]
    ) -> int:
        """Insert the planned slots that do not exist yet; returns how many were new."""
        if not planned:
            return 0
        rows = [
            {
                "id": uuid.uuid4(),
                "offer_id": offer.id,
                "location_code": location_code,
                "service_code": offer.service_code,
                "starts_at": slot.starts_at,
                "ends_at": slot.ends_at,
                "capacity": offer.capacity,
                "booked": 0,
            }
            for slot in planned
        ]
        statement = (
            insert(AppointmentSlot)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["offer_id", "starts_at"])
            .returning(AppointmentSlot.id)
        )
        return len((await self.session.execute(statement)).all())

    async def take_place(self, slot_id: uuid.UUID, now: datetime) -> bool:
        """Count one booking in the slot if a place is free and it has not begun.

        One statement: PostgreSQL locks the row, re-reads ``booked`` after any concurrent
        booking committed, and only then decides. Two requests can never both take the last
        place, in one process or in many (docs/adr/0014-egov-appointment-capacity.md).
        """
        statement = (
            update(AppointmentSlot)
            .where(
                AppointmentSlot.id == slot_id,
                AppointmentSlot.booked < AppointmentSlot.capacity,
                AppointmentSlot.starts_at > now,
            )
            .values(booked=AppointmentSlot.booked + 1)
            .returning(AppointmentSlot.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def give_back_place(self, slot_id: uuid.UUID) -> None:
        statement = (
            update(AppointmentSlot)
            .where(AppointmentSlot.id == slot_id, AppointmentSlot.booked > 0)
            .values(booked=AppointmentSlot.booked - 1)
        )
        await self.session.execute(statement)

    async def refreshed(self, slot_id: uuid.UUID) -> AppointmentSlot:
        """The slot as stored now (after this transaction's own update)."""
        statement = (
            select(AppointmentSlot)
            .where(AppointmentSlot.id == slot_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one()


class AppointmentRepository(Repository[Appointment]):
    model = Appointment
    not_found = "No such appointment."

    async def by_token_hash(self, token_hash: str) -> Appointment | None:
        statement = (
            select(Appointment)
            .where(Appointment.token_hash == token_hash)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def active_booking(self, slot_id: uuid.UUID, booker_id: str) -> Appointment | None:
        statement = select(Appointment).where(
            Appointment.slot_id == slot_id,
            Appointment.booker_id == booker_id,
            Appointment.status == AppointmentStatus.BOOKED.value,
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page_of_booker(
        self, booker_id: str, page: PageRequest
    ) -> tuple[list[Appointment], str | None]:
        statement = select(Appointment).where(Appointment.booker_id == booker_id)
        return await self.paginate(statement, NEWEST_FIRST, page, filters=fingerprint(booker_id))
