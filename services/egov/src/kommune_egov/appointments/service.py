"""Appointment rules: locations and slots (appointment staff), booking and cancelling (citizens).

Capacity is decided by PostgreSQL in one conditional update (``SlotRepository.take_place``);
this module never counts bookings itself. A booking is visible to its booker and to appointment
staff only: to everybody else it does not exist (404).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput, NotFound
from kommune.pagination import PageRequest
from kommune_egov.access import Permission, can, require
from kommune_egov.appointments.models import (
    Appointment,
    AppointmentLocation,
    AppointmentOffer,
    AppointmentSlot,
    AppointmentStatus,
    OpeningRule,
)
from kommune_egov.appointments.planner import Opening, plan_slots
from kommune_egov.appointments.repository import (
    AppointmentRepository,
    LocationRepository,
    SlotRepository,
)
from kommune_egov.appointments.schemas import (
    MAX_LISTING_DAYS,
    BookingCreate,
    LocationCreate,
    SlotPlanRequest,
)

DEFAULT_LISTING_DAYS = 14
TOKEN_BYTES = 32
"""256 bits from the OS's CSPRNG: the cancellation token cannot be guessed."""


def new_cancellation_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """Tokens are stored as SHA-256 only (high entropy: no salt or slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LocationView:
    location: AppointmentLocation
    openings: list[OpeningRule]
    offers: list[AppointmentOffer]


@dataclass(frozen=True, slots=True)
class Booking:
    appointment: Appointment
    slot: AppointmentSlot
    offer: AppointmentOffer
    location: AppointmentLocation


class AppointmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.locations = LocationRepository(session)
        self.slots = SlotRepository(session)
        self.appointments = AppointmentRepository(session)

    # ---- locations and slots (appointment staff) ---------------------------------------------

    async def create_location(
        self, manager: Principal, body: LocationCreate, *, location_id: uuid.UUID | None = None
    ) -> LocationView:
        """``location_id`` is given only by the demo loader (its fixed ids)."""
        require(manager, Permission.MANAGE_APPOINTMENTS)
        if await self.locations.by_code(body.code) is not None:
            raise Conflict("A location with this code exists already.", field="code")
        location = await self.locations.add(
            AppointmentLocation(
                id=location_id or uuid.uuid4(),
                code=body.code,
                name=body.name,
                address=body.address,
                created_at=utc_now(),
            )
        )
        openings = [
            OpeningRule(
                id=uuid.uuid4(),
                location_id=location.id,
                weekday=rule.weekday,
                opens=rule.opens,
                closes=rule.closes,
            )
            for rule in body.opening_hours
        ]
        offers = [
            AppointmentOffer(
                id=uuid.uuid4(),
                location_id=location.id,
                service_code=offer.service_code,
                service_name=offer.service_name,
                slot_minutes=offer.slot_minutes,
                capacity=offer.capacity,
            )
            for offer in body.services
        ]
        self.session.add_all([*openings, *offers])
        await self.session.flush()
        return LocationView(location, openings, offers)

    async def browse_locations(self, page: PageRequest) -> tuple[list[LocationView], str | None]:
        locations, next_cursor = await self.locations.page(page)
        ids = [location.id for location in locations]
        openings = await self.locations.openings(ids)
        offers = await self.locations.offers(ids)
        views = [
            LocationView(
                location,
                [o for o in openings if o.location_id == location.id],
                [o for o in offers if o.location_id == location.id],
            )
            for location in locations
        ]
        return views, next_cursor

    async def plan_slots(
        self, manager: Principal, location_code: str, body: SlotPlanRequest
    ) -> int:
        """Create the slots of every service at the location for the days asked (idempotent)."""
        require(manager, Permission.MANAGE_APPOINTMENTS)
        location = await self.locations.by_code(location_code)
        if location is None:
            raise NotFound(LocationRepository.not_found)
        openings = [
            Opening(rule.weekday, rule.opens, rule.closes)
            for rule in await self.locations.openings([location.id])
        ]
        created = 0
        for offer in await self.locations.offers([location.id]):
            planned = list(plan_slots(openings, offer.slot_minutes, body.first_day, body.last_day))
            created += await self.slots.add_planned(offer, location.code, planned)
        return created

    async def browse_slots(
        self,
        *,
        service: str | None,
        location: str | None,
        start: datetime | None,
        end: datetime | None,
        page: PageRequest,
    ) -> tuple[list[AppointmentSlot], str | None]:
        """Slots from ``start`` (default: now) to ``end`` (default: two weeks later)."""
        now = utc_now()
        start = max(start or now, now)
        end = end or start + timedelta(days=DEFAULT_LISTING_DAYS)
        if end <= start:
            raise InvalidInput("'to' must be after 'from' (and in the future).", field="to")
        if end - start > timedelta(days=MAX_LISTING_DAYS):
            raise InvalidInput(f"List at most {MAX_LISTING_DAYS} days at once.", field="to")
        return await self.slots.page(
            service=service, location=location, start=start, end=end, page=page
        )

    # ---- bookings (citizens) -----------------------------------------------------------------

    async def book(self, booker: Principal, body: BookingCreate) -> tuple[Booking, str]:
        """Take a place in the slot; returns the booking and its cancellation token (once)."""
        require(booker, Permission.BOOK_APPOINTMENT)
        now = utc_now()
        if not await self.slots.take_place(body.slot_id, now):
            slot = await self.slots.find(body.slot_id)
            if slot is None:
                raise NotFound(SlotRepository.not_found)
            if slot.starts_at <= now:
                raise Conflict("This slot has begun or is over.", reason="slot_past")
            raise Conflict("This slot is fully booked.", reason="slot_full", free=0)
        # The slot row is locked by this transaction until it ends: a second booking of the same
        # person for this slot waits here and then finds the first one.
        if await self.appointments.active_booking(body.slot_id, booker.sub) is not None:
            raise Conflict("You have booked this slot already.", reason="already_booked")
        token = new_cancellation_token()
        appointment = await self.appointments.add(
            Appointment(
                id=uuid.uuid4(),
                slot_id=body.slot_id,
                booker_id=booker.sub,
                name=body.name,
                email=body.email,
                token_hash=token_digest(token),
                status=AppointmentStatus.BOOKED.value,
                created_at=now,
            )
        )
        return await self._booking(appointment), token

    async def cancel(self, caller: Principal, token: str) -> Booking:
        """Cancel with the token (whoever holds it may cancel); the place is free again."""
        require(caller, Permission.BOOK_APPOINTMENT)
        appointment = await self.appointments.by_token_hash(token_digest(token))
        if appointment is None:
            raise NotFound("No appointment has this cancellation token.")
        if appointment.status == AppointmentStatus.CANCELLED.value:
            raise Conflict("This appointment is cancelled already.", current_status="cancelled")
        slot = await self.slots.get(appointment.slot_id)
        now = utc_now()
        if slot.starts_at <= now:
            raise Conflict("An appointment that has begun cannot be cancelled.")
        appointment.status = AppointmentStatus.CANCELLED.value
        appointment.cancelled_at = now
        await self.slots.give_back_place(slot.id)
        await self.session.flush()
        return await self._booking(appointment)

    async def get(self, viewer: Principal, appointment_id: uuid.UUID) -> Booking:
        """The booking, for its booker and appointment staff; 404 for everybody else."""
        require(viewer, Permission.BOOK_APPOINTMENT)
        appointment = await self.appointments.find(appointment_id)
        if appointment is None or not self._may_read(viewer, appointment):
            raise NotFound(AppointmentRepository.not_found)
        return await self._booking(appointment)

    async def browse_own(
        self, viewer: Principal, page: PageRequest
    ) -> tuple[list[Booking], str | None]:
        require(viewer, Permission.BOOK_APPOINTMENT)
        appointments, next_cursor = await self.appointments.page_of_booker(viewer.sub, page)
        return [await self._booking(a) for a in appointments], next_cursor

    @staticmethod
    def _may_read(viewer: Principal, appointment: Appointment) -> bool:
        return appointment.booker_id == viewer.sub or can(viewer, Permission.MANAGE_APPOINTMENTS)

    async def _booking(self, appointment: Appointment) -> Booking:
        statement = (
            select(AppointmentSlot, AppointmentOffer, AppointmentLocation)
            .join(AppointmentOffer, AppointmentOffer.id == AppointmentSlot.offer_id)
            .join(AppointmentLocation, AppointmentLocation.id == AppointmentOffer.location_id)
            .where(AppointmentSlot.id == appointment.slot_id)
            .execution_options(populate_existing=True)
        )
        slot, offer, location = (await self.session.execute(statement)).one()
        return Booking(appointment, slot, offer, location)
