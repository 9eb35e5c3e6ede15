"""Demo appointments: two Bürgerbüros with their services, opening hours and four weeks of slots.

Locations are demo records with fixed ids (:class:`kommune.demo.DemoLoader`); slots are planned
again at every load for the next four weeks (planning is idempotent: existing slots and their
bookings stay as they are).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal, Role
from kommune.db import transaction
from kommune.demo import DemoLoader
from kommune_egov.appointments.models import AppointmentLocation
from kommune_egov.appointments.schemas import LocationCreate, OfferIn, OpeningIn, SlotPlanRequest
from kommune_egov.appointments.service import AppointmentService

DEMO_MANAGER = Principal(sub="demo-loader", roles=frozenset({Role.ADMIN.value}), name="Demo")
PLANNING_DAYS = 28

_WEEKDAYS_MORNING = [OpeningIn(weekday=d, opens=time(8), closes=time(12)) for d in range(1, 6)]
_THURSDAY_AFTERNOON = OpeningIn(weekday=4, opens=time(14), closes=time(18))

LOCATIONS: dict[str, LocationCreate] = {
    "rathaus": LocationCreate(
        code="buergerbuero-rathaus",
        name="Bürgerbüro im Rathaus",
        address="Grabenstraße 15, 89522 Heidenheim an der Brenz",
        opening_hours=[*_WEEKDAYS_MORNING, _THURSDAY_AFTERNOON],
        services=[
            OfferIn(
                service_code="id_card",
                service_name="Personalausweis beantragen",
                slot_minutes=20,
                capacity=3,
            ),
            OfferIn(
                service_code="passport",
                service_name="Reisepass beantragen",
                slot_minutes=20,
                capacity=2,
            ),
            OfferIn(
                service_code="registration",
                service_name="Wohnsitz anmelden oder ummelden",
                slot_minutes=15,
                capacity=3,
            ),
            OfferIn(
                service_code="resident_parking_permit",
                service_name="Bewohnerparkausweis",
                slot_minutes=10,
                capacity=1,
            ),
        ],
    ),
    "mergelstetten": LocationCreate(
        code="buergerbuero-mergelstetten",
        name="Bürgerbüro Mergelstetten",
        address="Hauptstraße 30, 89522 Heidenheim-Mergelstetten",
        opening_hours=[
            OpeningIn(weekday=2, opens=time(9), closes=time(12)),
            OpeningIn(weekday=4, opens=time(14), closes=time(17)),
        ],
        services=[
            OfferIn(
                service_code="id_card",
                service_name="Personalausweis beantragen",
                slot_minutes=30,
                capacity=1,
            ),
            OfferIn(
                service_code="registration",
                service_name="Wohnsitz anmelden oder ummelden",
                slot_minutes=15,
                capacity=1,
            ),
        ],
    ),
}


async def load_appointments_demo(loader: DemoLoader) -> None:
    for key, body in LOCATIONS.items():

        async def create(
            session: AsyncSession, record_id: uuid.UUID, body: LocationCreate = body
        ) -> None:
            await AppointmentService(session).create_location(
                DEMO_MANAGER, body, location_id=record_id
            )

        await loader.ensure(AppointmentLocation, key, create)
    today = datetime.now(UTC).date()
    plan = SlotPlanRequest(first_day=today, last_day=today + timedelta(days=PLANNING_DAYS))
    async with transaction(loader.sessionmaker) as session:
        service = AppointmentService(session)
        for body in LOCATIONS.values():
            await service.plan_slots(DEMO_MANAGER, body.code, plan)
