"""Appointment request/response models."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated

from pydantic import AwareDatetime, Field, model_validator

from kommune.schemas import Code, InputModel, OutputModel, ShortText, Text, YearWindow

PersonName = Annotated[str, Text(2, 200)]
Email = Annotated[
    str,
    Text(3, 254),
    Field(
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f.]+(\.[^@\s\x00-\x1f\x7f.]+)+$",
        description="An e-mail address (the booking confirmation's recipient).",
    ),
]
Address = Annotated[str, Text(3, 300)]
SlotMinutes = Annotated[int, Field(ge=5, le=480, strict=True)]
Capacity = Annotated[int, Field(ge=1, le=100, strict=True)]
Weekday = Annotated[int, Field(ge=1, le=7, strict=True, description="ISO weekday, 1 = Monday.")]
SlotTime = Annotated[AwareDatetime, YearWindow(1, 2, "The time")]
CancellationToken = Annotated[str, Text(20, 100)]

MAX_PLANNING_DAYS = 92
"""Slots are generated for at most about three months at once."""
MAX_LISTING_DAYS = 62
"""A slot list spans at most about two months."""


# ---- locations -------------------------------------------------------------------------------


class OpeningIn(InputModel):
    weekday: Weekday
    opens: time = Field(description="Local time (Europe/Berlin), e.g. 08:00.")
    closes: time = Field(description="Local time (Europe/Berlin), after `opens`.")

    @model_validator(mode="after")
    def _opens_before_closes(self) -> OpeningIn:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("Opening hours are local times without an offset.")
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes.")
        return self


class OfferIn(InputModel):
    service_code: Code = Field(description="The e-service's code in the catalogue.")
    service_name: ShortText
    slot_minutes: SlotMinutes
    capacity: Capacity = Field(description="Citizens served at the same time (desks) per slot.")


class LocationCreate(InputModel):
    code: Code
    name: ShortText
    address: Address
    opening_hours: list[OpeningIn] = Field(min_length=1, max_length=50)
    services: list[OfferIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_offer_per_service(self) -> LocationCreate:
        codes = [offer.service_code for offer in self.services]
        if len(codes) != len(set(codes)):
            raise ValueError("Each service is offered once per location.")
        return self


class OpeningOut(OutputModel):
    weekday: int
    opens: time
    closes: time


class OfferOut(OutputModel):
    service_code: str
    service_name: str
    slot_minutes: int
    capacity: int


class LocationOut(OutputModel):
    id: uuid.UUID
    code: str
    name: str
    address: str
    opening_hours: list[OpeningOut]
    services: list[OfferOut]


class SlotPlanRequest(InputModel):
    first_day: date = Field(description="First day (local date) to plan slots for.")
    last_day: date = Field(description=f"Last day, at most {MAX_PLANNING_DAYS} days later.")

    @model_validator(mode="after")
    def _bounded(self) -> SlotPlanRequest:
        if self.last_day < self.first_day:
            raise ValueError("last_day must not be before first_day.")
        if (self.last_day - self.first_day).days > MAX_PLANNING_DAYS:
            raise ValueError(f"Plan at most {MAX_PLANNING_DAYS} days at once.")
        if not 2000 <= self.first_day.year <= 2100 or not 2000 <= self.last_day.year <= 2100:
            raise ValueError("The days must lie in the years 2000 to 2100.")
        return self


class SlotPlanResult(OutputModel):
    created: int = Field(description="New slots; slots planned before are kept as they are.")


# ---- slots and bookings ----------------------------------------------------------------------


class SlotOut(OutputModel):
    id: uuid.UUID
    start: datetime
    end: datetime
    location: str = Field(description="The location's code.")
    service: str = Field(description="The e-service's code.")
    capacity: int
    free: int


class BookingCreate(InputModel):
    slot_id: uuid.UUID
    name: PersonName
    email: Email


class AppointmentOut(OutputModel):
    """A booking as its booker (or appointment staff) sees it."""

    id: uuid.UUID
    status: str
    slot: SlotOut
    location_name: str
    location_address: str
    service_name: str
    name: str
    email: str
    created_at: datetime
    cancelled_at: datetime | None
    ics_url: str = Field(description="The appointment as an iCalendar file (RFC 5545).")


class BookingOut(AppointmentOut):
    cancellation_token: str = Field(
        description="Shown once: cancels the appointment (POST /api/v1/appointments/cancellation)."
    )


class CancellationRequest(InputModel):
    token: CancellationToken
