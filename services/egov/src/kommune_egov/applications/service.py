"""Application rules: submit (validated, idempotent), read (own / department), the workflow.

The service-layer entry point for every channel is :func:`submit`: the REST API (a citizen), the
Open311 adapter (a client app, :meth:`Submitter.client_app`) and the sensor-alert consumer (a work
order, :meth:`Submitter.system`) all create applications through it, so a damage report from any
channel lands in the same queue with the same history, mailbox message and event. It never
commits: the caller's unit of work commits the application, its history, the mailbox message
and the outbox event together.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import InvalidInput, NotFound
from kommune.events.outbox import DomainEvent, Outbox
from kommune.pagination import PageRequest
from kommune_egov import events
from kommune_egov.access import Permission, can, require, sees_every_department
from kommune_egov.applications.models import Application, ApplicationHistoryEntry
from kommune_egov.applications.repository import ApplicationRepository
from kommune_egov.applications.workflow import (
    NOTE_REQUIRED,
    Actor,
    ApplicationStatus,
    allowed_moves,
    check_move,
)
from kommune_egov.attachments.models import Attachment
from kommune_egov.attachments.repository import AttachmentRepository
from kommune_egov.catalogue.definitions import department_code
from kommune_egov.catalogue.service import CatalogueService, CurrentForm
from kommune_egov.mailbox.service import MailboxService
from kommune_egov.webhooks.service import enqueue as enqueue_webhooks
from kommune_schemas.generated.egov import (
    ApplicationStatusChangedV1,
    ApplicationSubmittedV1,
)

BERLIN = ZoneInfo("Europe/Berlin")
REFERENCE_PREFIX = "EG"


class Origin:
    CITIZEN = "citizen"
    OPEN311 = "open311"
    SENSOR = "sensor"


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who submits an application."""

    origin: str
    caller: str
    """Whose ``Idempotency-Key`` space and uploads these are (a citizen's ``sub``,
    ``open311:<client>``, ``system``)."""
    applicant_sub: str | None = None
    """A citizen account: may read the case, gets mailbox messages, may withdraw."""
    name: str | None = None
    email: str | None = None
    client_app: str | None = None

    @classmethod
    def citizen(cls, principal: Principal) -> Submitter:
        require(principal, Permission.SUBMIT_APPLICATION)
        return cls(
            origin=Origin.CITIZEN,
            caller=principal.sub,
            applicant_sub=principal.sub,
            name=principal.name,
        )

    @classmethod
    def open311(
        cls, client_id: str, *, email: str | None = None, name: str | None = None
    ) -> Submitter:
        """An Open311 client app submitting for an (anonymous) reporter with contact data."""
        return cls(
            origin=Origin.OPEN311,
            caller=f"open311:{client_id}",
            name=name,
            email=email,
            client_app=client_id,
        )

    @classmethod
    def system(cls) -> Submitter:
        """The service itself (a work order opened by a sensor alert)."""
        return cls(origin=Origin.SENSOR, caller="system")


@dataclass(frozen=True, slots=True)
class Place:
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None

    @property
    def given(self) -> bool:
        return (self.latitude is not None and self.longitude is not None) or bool(self.address)


@dataclass(frozen=True, slots=True)
class AttachmentClaim:
    id: uuid.UUID
    code: str


@dataclass(slots=True)
class SubmitResult:
    application: Application
    replayed: bool = False
    """``True``: the ``Idempotency-Key`` was used before with the same request; this is the
    application the first request created, nothing new was stored."""
    attachments: list[Attachment] = field(default_factory=list)
    history: list[ApplicationHistoryEntry] = field(default_factory=list)
    """The new application's history (empty for a replay: read it with the application)."""


def request_hash(
    service_code: str,
    data: Mapping[str, Any],
    place: Place | None,
    attachments: Sequence[AttachmentClaim],
) -> str:
    canonical = json.dumps(
        {
            "service_code": service_code,
            "data": data,
            "place": None if place is None else [place.latitude, place.longitude, place.address],
            "attachments": sorted([str(a.id), a.code] for a in attachments),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def reference_of(number: int, at: datetime) -> str:
    return f"{REFERENCE_PREFIX}-{at.astimezone(BERLIN).year}-{number:06d}"


async def submit(
    session: AsyncSession,
    submitter: Submitter,
    service_code: str,
    data: Mapping[str, Any],
    *,
    place: Place | None = None,
    attachments: Sequence[AttachmentClaim] = (),
    idempotency_key: str | None = None,
    application_id: uuid.UUID | None = None,
    source_alert_id: uuid.UUID | None = None,
    submitted_at: datetime | None = None,
) -> SubmitResult:
    """Create an application (history ``submitted``, mailbox message, outbox event).

    422 (naming the fields) for data the service's form refuses, a missing place of a damage
    report, a place given for a service without one, attachments that are not the submitter's
    own unattached uploads or miss a required document; the same ``idempotency_key`` of the same
    caller with the same request returns the first application (``replayed``), with another
    request 422. Unlisted services (work orders) only for the system submitter.
    """
    repository = ApplicationRepository(session)
    new_id = application_id or uuid.uuid4()
    if idempotency_key is not None:
        # Claimed first, in this transaction: a refused request rolls the claim back with
        # everything else; a concurrent duplicate waits here for the first one's commit.
        fingerprint = request_hash(service_code, data, place, attachments)
        claimed_key = await repository.claim_idempotency_key(
            submitter.caller, idempotency_key, fingerprint, new_id
        )
        if not claimed_key:
            earlier = await _replay(repository, submitter, idempotency_key, fingerprint)
            if earlier is None:  # pragma: no cover - the conflicting row is visible after the wait
                raise RuntimeError("idempotency key conflict without a row")
            return earlier
    catalogue = CatalogueService(session)
    try:
        current = await catalogue.current(
            service_code, include_unlisted=submitter.origin == Origin.SENSOR
        )
    except NotFound:
        raise InvalidInput(
            "No such e-service.",
            errors=[{"loc": ["body", "service_code"], "msg": "Unknown service.", "type": "enum"}],
        ) from None
    catalogue.check(current, dict(data))
    _check_place(current, place)
    claimed = await _claim_attachments(session, current, submitter, attachments)
    now = submitted_at or utc_now()
    service = current.service
    application = Application(
        id=new_id,
        reference=reference_of(await repository.next_reference_number(), now),
        service_id=service.id,
        service_code=service.code,
        service_name=service.name_de,
        kind=service.kind,
        department=service.department,
        form_version=current.form.version,
        data=dict(data),
        status=ApplicationStatus.SUBMITTED.value,
        origin=submitter.origin,
        applicant_sub=submitter.applicant_sub,
        applicant_name=submitter.name,
        contact_email=submitter.email,
        client_app=submitter.client_app,
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
        address=place.address if place else None,
        source_alert_id=source_alert_id,
        submitted_at=now,
        updated_at=now,
    )
    await repository.add(application)
    for attachment in claimed:
        attachment.application_id = application.id
    submitted = ApplicationHistoryEntry(
        id=uuid.uuid4(),
        application_id=application.id,
        position=1,
        from_status=None,
        to_status=ApplicationStatus.SUBMITTED.value,
        actor=(Actor.SYSTEM if submitter.origin == Origin.SENSOR else Actor.APPLICANT).value,
        actor_sub=submitter.applicant_sub,
        note=None,
        at=now,
    )
    await repository.add_history(submitted)
    await MailboxService(session).notify(application, ApplicationStatus.SUBMITTED, None)
    await publish(
        session,
        events.application_event(
            events.APPLICATION_SUBMITTED,
            application.id,
            ApplicationSubmittedV1(
                application_id=application.id,
                reference=application.reference,
                service_code=application.service_code,
                service_name=application.service_name,
                department=application.department,
                submitted_at=application.submitted_at,
                applicant_sub=application.applicant_sub,
            ),
            subject=str(application.id),
        ),
    )
    return SubmitResult(application, replayed=False, attachments=claimed, history=[submitted])


async def publish(session: AsyncSession, event: DomainEvent) -> None:
    """The event on the outbox (Kafka) and to the webhooks subscribed to it, in the caller's
    transaction; webhook receivers get the CloudEvent's id to correlate and deduplicate."""
    await Outbox(session, events.SOURCE).add(event)
    await enqueue_webhooks(session, event.id, event.type, event.data)


async def _replay(
    repository: ApplicationRepository, submitter: Submitter, key: str, fingerprint: str
) -> SubmitResult | None:
    stored = await repository.idempotency_key(submitter.caller, key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise InvalidInput(
            "This Idempotency-Key was used for another request; use a new key for a new "
            "application.",
            errors=[
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "Already used with a different request.",
                    "type": "idempotency_key_reused",
                }
            ],
        )
    application = await repository.get(stored.application_id)
    return SubmitResult(application, replayed=True)


def _check_place(current: CurrentForm, place: Place | None) -> None:
    if current.service.needs_location and (place is None or not place.given):
        raise InvalidInput(
            "A report needs a place: location (lat, lon) or an address.",
            errors=[
                {
                    "loc": ["body", "location"],
                    "msg": "location or address is required.",
                    "type": "missing",
                }
            ],
        )
    if not current.service.needs_location and place is not None and place.given:
        raise InvalidInput(
            "This service is not about a place: leave out location and address.",
            errors=[
                {
                    "loc": ["body", "location"],
                    "msg": "Not allowed for this service.",
                    "type": "extra_forbidden",
                }
            ],
        )


async def _claim_attachments(
    session: AsyncSession,
    current: CurrentForm,
    submitter: Submitter,
    claims: Sequence[AttachmentClaim],
) -> list[Attachment]:
    specs = {a["code"]: a for a in current.service.required_attachments}
    errors: list[dict[str, Any]] = []
    for index, claim in enumerate(claims):
        if claim.code not in specs:
            errors.append(
                {
                    "loc": ["body", "attachments", index, "code"],
                    "msg": f"Not an attachment of this service ({', '.join(specs) or 'none'}).",
                    "type": "enum",
                }
            )
    given = {c.code for c in claims}
    for code, spec in specs.items():
        if spec["required"] and code not in given:
            errors.append(
                {
                    "loc": ["body", "attachments", code],
                    "msg": f"Required: {spec['name_de']}.",
                    "type": "missing",
                }
            )
    found = await AttachmentRepository(session).unattached_of(
        submitter.caller, [c.id for c in claims]
    )
    for index, claim in enumerate(claims):
        if claim.id not in found:
            errors.append(
                {
                    "loc": ["body", "attachments", index, "id"],
                    "msg": "No such upload of yours that is not attached yet.",
                    "type": "not_found",
                }
            )
    if errors:
        raise InvalidInput("The attachments do not fit this service.", errors=errors)
    return [found[c.id] for c in claims]


# -- reading and the workflow ------------------------------------------------------------------


def actor_of(principal: Principal, application: Application) -> Actor | None:
    """In which capacity ``principal`` acts on ``application`` (``None``: not at all)."""
    if application.applicant_sub is not None and application.applicant_sub == principal.sub:
        return Actor.APPLICANT if can(principal, Permission.SUBMIT_APPLICATION) else None
    if can(principal, Permission.PROCESS_APPLICATIONS) and (
        sees_every_department(principal)
        or department_code(principal.department) == application.department
    ):
        return Actor.CASEWORKER
    return None


def allowed_for(principal: Principal, application: Application) -> list[ApplicationStatus]:
    actor = actor_of(principal, application)
    if actor is None:
        return []
    return allowed_moves(actor, ApplicationStatus(application.status))


@dataclass(slots=True)
class ApplicationView:
    application: Application
    history: list[ApplicationHistoryEntry]
    attachments: list[Attachment]


class ApplicationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.applications = ApplicationRepository(session)

    async def browse(
        self,
        viewer: Principal,
        page: PageRequest,
        *,
        service: str | None = None,
        status: ApplicationStatus | None = None,
        submitted_before: datetime | None = None,
        submitted_after: datetime | None = None,
        origin: str | None = None,
    ) -> tuple[list[Application], str | None]:
        return await self.applications.page_for(
            viewer,
            page,
            service=service,
            status=status.value if status else None,
            submitted_before=submitted_before,
            submitted_after=submitted_after,
            origin=origin,
        )

    async def counts(self, viewer: Principal, group_by: str, *, open_only: bool) -> dict[str, int]:
        return await self.applications.counts(viewer, group_by, open_only=open_only)

    async def _visible(
        self, viewer: Principal, application_id: uuid.UUID, *, for_update: bool = False
    ) -> Application:
        application = await self.applications.visible(viewer, application_id, for_update=for_update)
        if application is None:
            raise NotFound(ApplicationRepository.not_found)
        return application

    async def view(self, viewer: Principal, application_id: uuid.UUID) -> ApplicationView:
        application = await self._visible(viewer, application_id)
        return await self._view_of(application)

    async def _view_of(self, application: Application) -> ApplicationView:
        history = await self.applications.history(application.id)
        attachments = await AttachmentRepository(self.session).of_application(application.id)
        return ApplicationView(application, history, attachments)

    async def transition(
        self,
        actor_principal: Principal,
        application_id: uuid.UUID,
        target: ApplicationStatus,
        note: str | None,
        *,
        attachment_id: uuid.UUID | None = None,
    ) -> ApplicationView:
        """Move the case (409 naming the allowed moves), append the history, tell the applicant
        (mailbox) and everyone else (``status_changed`` on the outbox) in one transaction."""
        application = await self._visible(actor_principal, application_id, for_update=True)
        actor = actor_of(actor_principal, application)
        if actor is None:
            raise NotFound(ApplicationRepository.not_found)
        current = ApplicationStatus(application.status)
        check_move(actor, current, target)
        if target in NOTE_REQUIRED and not note:
            raise InvalidInput(
                f"Moving to {target} needs a note.",
                errors=[
                    {"loc": ["body", "note"], "msg": "Required for this status.", "type": "missing"}
                ],
            )
        document: Attachment | None = None
        if attachment_id is not None:
            found = await AttachmentRepository(self.session).unattached_of(
                actor_principal.sub, [attachment_id]
            )
            document = found.get(attachment_id)
            if document is None:
                raise InvalidInput(
                    "No such upload of yours that is not attached yet.",
                    errors=[
                        {"loc": ["body", "attachment_id"], "msg": "Not found.", "type": "not_found"}
                    ],
                )
            document.application_id = application.id
        now = utc_now()
        application.status = target.value
        application.updated_at = now
        await self.applications.add_history(
            ApplicationHistoryEntry(
                id=uuid.uuid4(),
                application_id=application.id,
                position=await self.applications.next_position(application.id),
                from_status=current.value,
                to_status=target.value,
                actor=actor.value,
                actor_sub=actor_principal.sub,
                note=note,
                at=now,
            )
        )
        await MailboxService(self.session).notify(
            application, target, note, attachment_id=document.id if document else None
        )
        await publish(
            self.session,
            events.application_event(
                events.APPLICATION_STATUS_CHANGED,
                application.id,
                ApplicationStatusChangedV1(
                    application_id=application.id,
                    reference=application.reference,
                    service_code=application.service_code,
                    department=application.department,
                    from_status=current.value,
                    to_status=target.value,
                    changed_at=now,
                    applicant_sub=application.applicant_sub,
                ),
                subject=str(application.id),
            ),
        )
        return await self._view_of(application)

    async def record_filing(
        self, application_id: uuid.UUID, file_id: uuid.UUID, file_number: str, filed_at: datetime
    ) -> Application | None:
        """The documents service filed the application (``None`` if it is not ours)."""
        application = await self.applications.find(application_id, for_update=True)
        if application is None:
            return None
        application.file_id = file_id
        application.file_number = file_number
        application.filed_at = filed_at
        application.updated_at = utc_now()
        return application
