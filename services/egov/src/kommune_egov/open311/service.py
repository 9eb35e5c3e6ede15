"""The Open311 adapter: GeoReport v2 in, the egov catalogue and applications behind it.

A damage report posted here becomes an application through the one service-layer entry point
of every channel (:func:`kommune_egov.applications.service.submit`), so caseworkers handle it
in the same queue with the same history and events. This module adds only what Open311 has of
its own: the services and definitions as the spec shapes them, the numeric request id, the
duplicate hint, and the status the spec knows (``open``/``closed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import DomainError, InvalidInput, NotFound
from kommune_egov.applications.service import (
    AttachmentClaim,
    Place,
    Submitter,
    submit,
)
from kommune_egov.applications.workflow import FINAL, GERMAN_LABELS, ApplicationStatus
from kommune_egov.attachments.service import AttachmentService
from kommune_egov.catalogue.definitions import ServiceKind
from kommune_egov.catalogue.models import EService
from kommune_egov.catalogue.service import CatalogueService, CurrentForm
from kommune_egov.open311.api_keys import ClientApp
from kommune_egov.open311.attributes import AttributeValueError, attributes_of, form_data
from kommune_egov.open311.errors import Open311Error
from kommune_egov.open311.models import Open311Report
from kommune_egov.open311.repository import Open311Repository, ReportRow
from kommune_egov.open311.schemas import ReportForm, RequestFilters

LOCAL = ZoneInfo("Europe/Berlin")
DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW = timedelta(days=14)
MEDIA_ATTACHMENT_CODE = "photo"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


def w3(moment: datetime) -> str:
    """A date-time as the spec wants it: ISO 8601 with the offset (local time, Europe/Berlin)."""
    return moment.astimezone(LOCAL).isoformat(timespec="seconds")


def service_entry(service: EService) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name_de,
        "description": service.description_de,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(service.keywords),
        "group": service.department_name,
    }


def status_of(application_status: str) -> str:
    return "closed" if ApplicationStatus(application_status) in FINAL else "open"


def request_entry(row: ReportRow) -> dict[str, Any]:
    """One request as GET requests shows it: no reporter's name, e-mail, phone or device."""
    application, report, service = row.application, row.report, row.service
    status = ApplicationStatus(application.status)
    description = application.data.get("description")
    return {
        "service_request_id": report.service_request_id,
        "status": status_of(application.status),
        "status_notes": GERMAN_LABELS[status],
        "service_name": service.name_de,
        "service_code": application.service_code,
        "description": description if isinstance(description, str) else None,
        "agency_responsible": service.department_name,
        "service_notice": report.service_notice,
        "requested_datetime": w3(application.submitted_at),
        "updated_datetime": w3(application.updated_at),
        "expected_datetime": w3(application.submitted_at + timedelta(days=service.processing_days)),
        "address": application.address,
        "address_id": report.address_id,
        "zipcode": None,
        "lat": application.latitude,
        "long": application.longitude,
        "media_url": report.media_url,
    }


def _described(error: InvalidInput) -> list[str]:
    """The application layer's 422 as the spec's 400 entries, named as the client sent them."""
    lines: list[str] = []
    for item in error.extensions.get("errors", []):
        loc = [str(part) for part in item.get("loc", [])]
        if loc[:1] == ["data"] and len(loc) > 1:
            field = "description" if loc[1] == "description" else f"attribute[{loc[1]}]"
        elif loc[:2] == ["body", "location"]:
            field = "lat/long or address_string"
        elif loc[:2] == ["body", "attachments"]:
            field = "media"
        else:
            field = loc[-1] if loc else "request"
        lines.append(f"{field}: {item.get('msg', 'invalid')}")
    return lines or [error.detail]


class Open311Service:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.reports = Open311Repository(session)
        self.catalogue = CatalogueService(session)

    async def services(self) -> list[dict[str, Any]]:
        return [service_entry(s) for s in await self.reports.damage_services()]

    async def _damage_service(self, code: str) -> CurrentForm:
        try:
            current = await self.catalogue.current(code)
        except NotFound:
            raise Open311Error(404, f"service_code {code!r} not found.") from None
        if current.service.kind != ServiceKind.DAMAGE_REPORT.value:
            raise Open311Error(404, f"service_code {code!r} not found.")
        return current

    async def definition(self, code: str) -> dict[str, Any]:
        current = await self._damage_service(code)
        return {
            "service_code": current.service.code,
            "attributes": [a.as_spec() for a in attributes_of(current.form.schema)],
        }

    async def submit(
        self,
        client: ClientApp,
        form: ReportForm,
        attributes: Mapping[str, Sequence[str]],
        media: UploadFile | None,
        media_max_bytes: int,
    ) -> dict[str, Any]:
        """Create the report (an application) and answer with its id and service notice."""
        current = await self._damage_service(form.service_code)
        try:
            data = form_data(current.form.schema, attributes, form.description)
        except AttributeValueError as error:
            raise Open311Error(400, str(error)) from None
        duplicate: Open311Report | None = None
        if form.lat is not None and form.long is not None:
            await self.reports.lock_service(form.service_code)
            duplicate = await self.reports.open_report_nearby(
                form.service_code,
                form.lat,
                form.long,
                utc_now() - DUPLICATE_WINDOW,
                DUPLICATE_RADIUS_M,
            )
        submitter = Submitter.open311(
            str(client.id),
            email=form.email,
            name=" ".join(n for n in (form.first_name, form.last_name) if n) or None,
        )
        claims = await self._media(submitter, media, media_max_bytes)
        address = form.address_string or (
            f"Adress-ID {form.address_id}" if form.address_id else None
        )
        try:
            result = await submit(
                self.session,
                submitter,
                current.service.code,
                data,
                place=Place(latitude=form.lat, longitude=form.long, address=address),
                attachments=claims,
            )
        except InvalidInput as error:
            raise Open311Error(400, *_described(error)) from None
        application = result.application
        if duplicate is not None:
            notice = (
                "Ein gleichartiger Schaden wurde weniger als 50 m entfernt bereits gemeldet "
                f"(Meldung {duplicate.service_request_id}, noch offen). Ihre Meldung "
                f"({application.reference}) ist damit verknüpft und wird gemeinsam bearbeitet."
            )
        else:
            notice = (
                f"Ihre Meldung ist eingegangen (Vorgang {application.reference}). Zuständig: "
                f"{current.service.department_name}; Bearbeitung in der Regel binnen "
                f"{current.service.processing_days} Tagen."
            )
        report = await self.reports.add(
            Open311Report(
                application_id=application.id,
                client_id=client.id,
                address_id=form.address_id,
                media_url=form.media_url,
                phone=form.phone,
                device_id=form.device_id,
                account_id=form.account_id,
                duplicate_of=duplicate.service_request_id if duplicate else None,
                service_notice=notice,
            )
        )
        return {
            "service_request_id": report.service_request_id,
            "service_notice": notice,
            "account_id": form.account_id,
        }

    async def _media(
        self, submitter: Submitter, media: UploadFile | None, max_bytes: int
    ) -> list[AttachmentClaim]:
        """The multipart ``media`` photo as the report's attachment (type sniffed, size bound)."""
        if media is None:
            return []
        content = await media.read(max_bytes + 1)
        if not content:
            return []
        uploader = Principal(sub=submitter.caller)
        try:
            attachment = await AttachmentService(self.session).upload(
                uploader, media.filename, content, max_bytes
            )
        except DomainError as error:
            raise Open311Error(400, f"media: {error.detail}") from None
        return [AttachmentClaim(attachment.id, MEDIA_ATTACHMENT_CODE)]

    async def search(self, filters: RequestFilters) -> list[dict[str, Any]]:
        return [request_entry(row) for row in await self.reports.search(filters)]

    async def one(self, raw_id: str) -> dict[str, Any]:
        row = None
        if raw_id.isdigit() and len(raw_id) <= 18:
            row = await self.reports.one(int(raw_id))
        if row is None:
            raise Open311Error(404, f"service_request_id {raw_id[:40]!r} not found.")
        return request_entry(row)
