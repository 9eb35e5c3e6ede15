"""Bring the stored catalogue up to the one shipped with the service (at every start).

Runs in one transaction under a transaction-scoped advisory lock, so replicas starting together
do it once. A service that is new is stored with its form and, if listed, announced on
``egov.service.v1`` in the same transaction (outbox). A definition with a higher
``form_version`` adds that form version and makes it current; the texts, fee and department
follow the definition. A stored form version is never rewritten.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.clock import utc_now
from kommune.events.outbox import Outbox
from kommune_egov import events
from kommune_egov.catalogue.definitions import CATALOGUE, ServiceDefinition
from kommune_egov.catalogue.models import EService, ServiceForm
from kommune_egov.catalogue.repository import ServiceRepository
from kommune_egov.catalogue.validation import check_schema
from kommune_schemas.generated.egov import ServicePublishedV1

log = structlog.get_logger(__name__)

SYNC_LOCK = "kommune.egov.catalogue.sync"
SERVICE_ID_NAMESPACE = uuid.UUID("0b8f3a52-7c1e-4d2a-9f6b-3e5d7c9a1b24")


def service_id(code: str) -> uuid.UUID:
    """A service's id is derived from its code: the same in every deployment."""
    return uuid.uuid5(SERVICE_ID_NAMESPACE, code)


def _apply(service: EService, definition: ServiceDefinition) -> None:
    service.kind = definition.kind.value
    service.name_de = definition.name_de
    service.name_en = definition.name_en
    service.description_de = definition.description_de
    service.description_en = definition.description_en
    service.leika_key = definition.leika_key
    service.department = definition.department.code
    service.department_name = definition.department.name
    service.fee_cents = definition.fee_cents
    service.fee_note = definition.fee_note
    service.processing_days = definition.processing_days
    service.required_attachments = [asdict(a) for a in definition.attachments]
    service.keywords = list(definition.keywords)
    service.needs_location = definition.needs_location
    service.listed = definition.listed


def service_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/online-dienste/{code}"


async def sync_catalogue(
    session: AsyncSession, base_url: str, catalogue: tuple[ServiceDefinition, ...] = CATALOGUE
) -> list[str]:
    """Store what is new; returns the codes of the services published now. Does not commit.

    A database without the catalogue table (not migrated) is left alone: the service starts and
    serves nothing of the catalogue until the migrations ran (``/readyz`` does not check it).
    """
    if (await session.execute(text("SELECT to_regclass('services')"))).scalar() is None:
        log.warning("catalogue_sync_skipped", reason="the database is not migrated")
        return []
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": SYNC_LOCK}
    )
    repository = ServiceRepository(session)
    published: list[str] = []
    now = utc_now()
    for definition in catalogue:
        check_schema(definition.form)
        service = await repository.by_code(definition.code)
        if service is None:
            service = EService(
                id=service_id(definition.code),
                code=definition.code,
                form_version=definition.form_version,
                published_at=now,
                updated_at=now,
            )
            _apply(service, definition)
            await repository.add(service)
            await repository.add_form(
                ServiceForm(
                    service_id=service.id,
                    version=definition.form_version,
                    schema=definition.form,
                    created_at=now,
                )
            )
            if service.listed:
                await _announce(session, service, base_url)
            published.append(service.code)
            continue
        _apply(service, definition)
        if definition.form_version > service.form_version:
            await repository.add_form(
                ServiceForm(
                    service_id=service.id,
                    version=definition.form_version,
                    schema=definition.form,
                    created_at=now,
                )
            )
            service.form_version = definition.form_version
            service.updated_at = now
            log.info("catalogue_form_version", code=service.code, version=service.form_version)
    await session.flush()
    return published


async def _announce(session: AsyncSession, service: EService, base_url: str) -> None:
    payload = ServicePublishedV1(
        service_id=service.id,
        name=service.name_de,
        summary=service.description_de[:2000],
        url=service_url(base_url, service.code),
        department=service.department_name,
        published_at=service.published_at,
    )
    await Outbox(session, events.SOURCE).add(
        events.service_event(events.SERVICE_PUBLISHED, service.id, payload)
    )
