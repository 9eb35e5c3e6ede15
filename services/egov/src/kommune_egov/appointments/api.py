"""Appointment endpoints: public slot and location lists, booking, cancelling, the ICS file."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import public_access, service_router
from kommune.schemas import Code
from kommune_egov.access import Permission, requires
from kommune_egov.appointments.calendar import ICS_MEDIA_TYPE, appointment_ics
from kommune_egov.appointments.models import AppointmentSlot, AppointmentStatus
from kommune_egov.appointments.schemas import (
    AppointmentOut,
    BookingCreate,
    BookingOut,
    CancellationRequest,
    LocationCreate,
    LocationOut,
    OfferOut,
    OpeningOut,
    SlotOut,
    SlotPlanRequest,
    SlotPlanResult,
    SlotTime,
)
from kommune_egov.appointments.service import AppointmentService, Booking, LocationView

PREFIX = "/api/v1/appointments"

MayBook = Annotated[Principal, Depends(requires(Permission.BOOK_APPOINTMENT))]
MayManage = Annotated[Principal, Depends(requires(Permission.MANAGE_APPOINTMENTS))]

router = service_router(PREFIX, tags=["appointments"])


def slot_out(slot: AppointmentSlot) -> SlotOut:
    return SlotOut(
        id=slot.id,
        start=slot.starts_at,
        end=slot.ends_at,
        location=slot.location_code,
        service=slot.service_code,
        capacity=slot.capacity,
        free=max(slot.capacity - slot.booked, 0),
    )


def ics_url(appointment_id: uuid.UUID) -> str:
    return f"{PREFIX}/{appointment_id}/calendar.ics"


def appointment_out(booking: Booking) -> AppointmentOut:
    appointment = booking.appointment
    return AppointmentOut(
        id=appointment.id,
        status=appointment.status,
        slot=slot_out(booking.slot),
        location_name=booking.location.name,
        location_address=booking.location.address,
        service_name=booking.offer.service_name,
        name=appointment.name,
        email=appointment.email,
        created_at=appointment.created_at,
        cancelled_at=appointment.cancelled_at,
        ics_url=ics_url(appointment.id),
    )


def location_out(view: LocationView) -> LocationOut:
    return LocationOut(
        id=view.location.id,
        code=view.location.code,
        name=view.location.name,
        address=view.location.address,
        opening_hours=[OpeningOut.model_validate(rule) for rule in view.openings],
        services=[OfferOut.model_validate(offer) for offer in view.offers],
    )


@router.get(
    "/slots",
    summary="Bookable slots (public)",
    dependencies=[Depends(public_access)],
)
async def list_slots(
    session: DbSession,
    page: PageParams,
    service: Annotated[Code | None, Query(description="The e-service's code.")] = None,
    location: Annotated[Code | None, Query(description="The location's code.")] = None,
    from_: Annotated[SlotTime | None, Query(alias="from", description="Default: now.")] = None,
    to: Annotated[SlotTime | None, Query(description="Default: two weeks after `from`.")] = None,
) -> Page[SlotOut]:
    """Slots that start in ``[from, to)`` (never in the past), earliest first, with the places
    still free. Full slots are listed too (``free: 0``)."""
    slots, next_cursor = await AppointmentService(session).browse_slots(
        service=service, location=location, start=from_, end=to, page=page
    )
    return Page(items=[slot_out(slot) for slot in slots], next_cursor=next_cursor)


@router.get(
    "/locations",
    summary="Locations with their services and opening hours (public)",
    dependencies=[Depends(public_access)],
)
async def list_locations(session: DbSession, page: PageParams) -> Page[LocationOut]:
    views, next_cursor = await AppointmentService(session).browse_locations(page)
    return Page(items=[location_out(view) for view in views], next_cursor=next_cursor)


@router.post(
    "/locations",
    status_code=status.HTTP_201_CREATED,
    summary="Add a location with its services and opening hours (appointment staff)",
)
async def create_location(
    body: LocationCreate, session: DbSession, principal: MayManage
) -> LocationOut:
    return location_out(await AppointmentService(session).create_location(principal, body))


@router.post(
    "/locations/{location_code}/slots",
    summary="Plan the slots of a location for some days (appointment staff; idempotent)",
)
async def plan_slots(
    location_code: Code, body: SlotPlanRequest, session: DbSession, principal: MayManage
) -> SlotPlanResult:
    created = await AppointmentService(session).plan_slots(principal, location_code, body)
    return SlotPlanResult(created=created)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Book a slot",
    responses={409: {"description": "The slot is full, has begun, or you booked it already."}},
)
async def book(
    body: BookingCreate, session: DbSession, principal: MayBook, response: Response
) -> BookingOut:
    """201 with the booking, its cancellation token (shown only here) and the ICS link."""
    booking, token = await AppointmentService(session).book(principal, body)
    response.headers["Location"] = f"{PREFIX}/{booking.appointment.id}"
    return BookingOut(**appointment_out(booking).model_dump(), cancellation_token=token)


@router.post(
    "/cancellation",
    summary="Cancel an appointment with its cancellation token",
    responses={409: {"description": "Cancelled already, or the appointment has begun."}},
)
async def cancel(
    body: CancellationRequest, session: DbSession, principal: MayBook
) -> AppointmentOut:
    booking = await AppointmentService(session).cancel(principal, body.token)
    return appointment_out(booking)


@router.get("", summary="Your appointments, newest first")
async def list_own(
    session: DbSession, principal: MayBook, page: PageParams
) -> Page[AppointmentOut]:
    bookings, next_cursor = await AppointmentService(session).browse_own(principal, page)
    return Page(items=[appointment_out(b) for b in bookings], next_cursor=next_cursor)


@router.get("/{appointment_id}", summary="One appointment (its booker and appointment staff)")
async def get_appointment(
    appointment_id: uuid.UUID, session: DbSession, principal: MayBook
) -> AppointmentOut:
    return appointment_out(await AppointmentService(session).get(principal, appointment_id))


@router.get(
    "/{appointment_id}/calendar.ics",
    summary="The appointment as an iCalendar file",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}},
)
async def calendar_file(
    appointment_id: uuid.UUID, session: DbSession, principal: MayBook
) -> Response:
    booking = await AppointmentService(session).get(principal, appointment_id)
    body = appointment_ics(
        uid=f"{booking.appointment.id}@termine.heidenheim.de",
        starts_at=booking.slot.starts_at,
        ends_at=booking.slot.ends_at,
        service_name=booking.offer.service_name,
        location_name=booking.location.name,
        location_address=booking.location.address,
        created_at=booking.appointment.created_at,
        cancelled=booking.appointment.status == AppointmentStatus.CANCELLED.value,
    )
    return Response(
        content=body,
        media_type=ICS_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="termin-{appointment_id}.ics"'},
    )
