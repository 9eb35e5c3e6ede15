"""Demo data for ``make up``: ``python -m kommune_egov.demo`` (uses ``EGOV_DATABASE_URL``).

The catalogue is brought up to date first (as the service does at start). Then a few cases in
different states, each created through the service layer (submit, then the caseworkers' and
the applicant's moves), so history, mailbox and outbox events are what real use would have
produced: Max Mustermann's dog registration (approved and completed, the tax notice in his
mailbox), his resident parking permit (acknowledged), a pothole he reported, an illegal dumping
report awaiting his answer, and a kindergarten application just submitted. Then two Bürgerbüros
with four weeks of appointment slots and, in dev and test only, the Open311 client app whose key
is ``kommune-dev-open311``.

Every demo case has a fixed id derived from its demo key (:class:`kommune.demo.DemoLoader`):
loading is idempotent whatever users did meanwhile. Demo people (log in with these subjects at
the dev issuer): ``cit-max.mustermann`` (citizen), ``cw-sara.keller`` (caseworker, buergeramt),
``cw-ines.wagner`` (ordnungsamt), ``cw-jonas.maier`` (bauhof), ``cw-tim.berger`` (tiefbau),
``cw-ute.hahn`` (kinderbetreuung).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal, Role
from kommune.db import transaction
from kommune.demo import DemoLoader, run_demo
from kommune_egov.applications.models import Application
from kommune_egov.applications.service import (
    ApplicationService,
    AttachmentClaim,
    Place,
    Submitter,
    submit,
)
from kommune_egov.applications.workflow import ApplicationStatus
from kommune_egov.appointments.demo import load_appointments_demo
from kommune_egov.attachments.service import AttachmentService
from kommune_egov.catalogue.sync import sync_catalogue
from kommune_egov.open311.demo import load_open311_demo
from kommune_egov.settings import EgovSettings

MAX = Principal(
    sub="cit-max.mustermann", roles=frozenset({str(Role.CITIZEN)}), name="Max Mustermann"
)


def caseworker(sub: str, name: str, department: str) -> Principal:
    return Principal(
        sub=sub, roles=frozenset({str(Role.CASEWORKER)}), name=name, department=department
    )


SARA = caseworker("cw-sara.keller", "Sara Keller", "buergeramt")
INES = caseworker("cw-ines.wagner", "Ines Wagner", "ordnungsamt")
JONAS = caseworker("cw-jonas.maier", "Jonas Maier", "bauhof")
TIM = caseworker("cw-tim.berger", "Tim Berger", "tiefbau")
UTE = caseworker("cw-ute.hahn", "Ute Hahn", "kinderbetreuung")

ADDRESS = {
    "street": "Hauptstraße",
    "house_number": "34",
    "postcode": "89522",
    "city": "Heidenheim an der Brenz",
}
MAX_PERSON = {"first_name": "Max", "last_name": "Mustermann", "date_of_birth": "1985-06-01"}

# A minimal, valid one-page PDF: the tax notice the Bürgeramt sends with the approval.
NOTICE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

Step = tuple[Principal, ApplicationStatus, str | None]


@dataclass(frozen=True)
class DemoCase:
    key: str
    service_code: str
    data: dict[str, Any]
    steps: tuple[Step, ...] = ()
    place: Place | None = None
    notice: bool = False
    """Attach the tax notice (PDF) to the last caseworker step."""
    extra: dict[str, Any] = field(default_factory=dict)


CASES: tuple[DemoCase, ...] = (
    DemoCase(
        key="dog-bruno",
        service_code="dog_registration",
        data={
            "owner": MAX_PERSON,
            "address": ADDRESS,
            "dog_name": "Bruno",
            "breed": "Berner Sennenhund",
            "date_of_birth": "2025-03-14",
            "kept_since": "2026-09-01",
            "chip_number": "276098106512345",
            "listed_dog": "no",
            "other_dogs": 0,
            "email": "max.mustermann@example.org",
        },
        steps=(
            (SARA, ApplicationStatus.ACKNOWLEDGED, None),
            (SARA, ApplicationStatus.APPROVED, "Die Steuermarke liegt dem Bescheid bei."),
            (SARA, ApplicationStatus.COMPLETED, None),
        ),
        notice=True,
    ),
    DemoCase(
        key="parking-zone-b",
        service_code="resident_parking_permit",
        data={
            "applicant": MAX_PERSON,
            "address": ADDRESS,
            "zone": "zone_a",
            "licence_plate": "HDH-MM 1985",
            "vehicle_holder": "own",
            "valid_from": "2026-12-01",
        },
        steps=((INES, ApplicationStatus.ACKNOWLEDGED, None),),
        extra={"attachment": "vehicle_registration"},
    ),
    DemoCase(
        key="pothole-karlstrasse",
        service_code="pothole",
        data={
            "surface": "road",
            "size": "large",
            "depth_cm": 8,
            "hazard": "yes",
            "description": "Tiefes Schlagloch vor Hausnummer 12, Radfahrer weichen aus.",
        },
        place=Place(latitude=48.6779, longitude=10.1540, address="Karlstraße 12"),
        steps=((TIM, ApplicationStatus.ACKNOWLEDGED, None),),
    ),
    DemoCase(
        key="dumping-brenzpark",
        service_code="illegal_dumping",
        data={
            "waste_types": ["bulky", "electronics"],
            "volume": "car_load",
            "description": "Ein Sofa und ein alter Fernseher am Parkplatz.",
        },
        place=Place(latitude=48.6731, longitude=10.1607, address="Parkplatz Brenzpark"),
        steps=(
            (
                JONAS,
                ApplicationStatus.NEEDS_INFO,
                "Auf welcher Seite des Parkplatzes liegt der Abfall genau?",
            ),
        ),
    ),
    DemoCase(
        key="kita-mia",
        service_code="kindergarten_place",
        data={
            "child": {
                "first_name": "Mia",
                "last_name": "Mustermann",
                "date_of_birth": "2024-02-20",
            },
            "guardian": MAX_PERSON,
            "address": ADDRESS,
            "start_date": "2027-03-01",
            "care_type": "extended",
            "preferences": ["kita_schlossberg", "kita_mittelrain"],
            "siblings_in_care": "no",
        },
    ),
)


async def create_case(case: DemoCase, session: AsyncSession, record_id: uuid.UUID) -> None:
    attachments = []
    if code := case.extra.get("attachment"):
        upload = await AttachmentService(session).upload(
            MAX, "Fahrzeugschein.pdf", NOTICE_PDF, 10 * 1024 * 1024
        )
        attachments.append((upload.id, code))
    await submit(
        session,
        Submitter.citizen(MAX),
        case.service_code,
        case.data,
        place=case.place,
        attachments=[AttachmentClaim(i, c) for i, c in attachments],
        application_id=record_id,
    )
    service = ApplicationService(session)
    for actor, status, note in case.steps:
        document = None
        if case.notice and status is ApplicationStatus.APPROVED:
            document = await AttachmentService(session).upload(
                actor, "Hundesteuerbescheid.pdf", NOTICE_PDF, 10 * 1024 * 1024
            )
        await service.transition(
            actor, record_id, status, note, attachment_id=document.id if document else None
        )


async def load(loader: DemoLoader, settings: EgovSettings | None = None) -> None:
    """``settings`` default to the environment's (what ``run_demo`` loads from)."""
    settings = settings or EgovSettings()
    async with transaction(loader.sessionmaker) as session:
        await sync_catalogue(session, settings.public_base_url)
    for case in CASES:
        create: Callable[[AsyncSession, uuid.UUID], Awaitable[None]] = partial(create_case, case)
        await loader.ensure(Application, case.key, create)
    await load_appointments_demo(loader)
    await load_open311_demo(loader, settings)  # the client app kommune-dev-open311 (dev/test)


if __name__ == "__main__":
    run_demo(EgovSettings, load, __file__)
