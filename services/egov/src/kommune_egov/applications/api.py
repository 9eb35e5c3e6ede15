"""Application endpoints: submit, the citizen's own list / the caseworkers' queue, the workflow."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Response, status
from pydantic import AwareDatetime

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune.schemas import YearWindow
from kommune_egov.access import Permission, requires
from kommune_egov.applications.models import Application
from kommune_egov.applications.schemas import (
    ApplicationCounts,
    ApplicationCreate,
    ApplicationDetailOut,
    ApplicationOut,
    AttachmentSummary,
    HistoryEntryOut,
    LocationOut,
    ServiceCodeText,
    TransitionIn,
)
from kommune_egov.applications.service import (
    ApplicationService,
    ApplicationView,
    AttachmentClaim,
    Origin,
    Place,
    Submitter,
    allowed_for,
    submit,
)
from kommune_egov.applications.workflow import ApplicationStatus

MaySubmit = Annotated[Principal, Depends(requires(Permission.SUBMIT_APPLICATION))]
MayRead = Annotated[Principal, Depends(requires(Permission.READ_APPLICATIONS))]
MayChangeStatus = Annotated[Principal, Depends(requires(Permission.CHANGE_STATUS))]
MayProcess = Annotated[Principal, Depends(requires(Permission.PROCESS_APPLICATIONS))]

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        max_length=255,
        description=(
            "A key of your choice (printable ASCII, e.g. a UUID): a retried submit with the same "
            "key and body returns the first application instead of a second one (header "
            "`Idempotent-Replayed: true`); the same key with another body is a 422."
        ),
    ),
]

SubmittedAt = Annotated[AwareDatetime, YearWindow(years_back=30, years_ahead=1, what="The date")]

router = service_router("/api/v1/applications", tags=["applications"])


def application_out(application: Application, viewer: Principal) -> ApplicationOut:
    return ApplicationOut(
        id=application.id,
        reference=application.reference,
        service_code=application.service_code,
        service_name=application.service_name,
        kind=application.kind,
        department=application.department,
        form_version=application.form_version,
        status=ApplicationStatus(application.status),
        origin=application.origin,
        data=application.data,
        location=(
            LocationOut(lat=application.latitude, lon=application.longitude)
            if application.latitude is not None and application.longitude is not None
            else None
        ),
        address=application.address,
        file_number=application.file_number,
        submitted_at=application.submitted_at,
        updated_at=application.updated_at,
        allowed_transitions=allowed_for(viewer, application),
    )


def detail_out(view: ApplicationView, viewer: Principal) -> ApplicationDetailOut:
    return ApplicationDetailOut(
        **application_out(view.application, viewer).model_dump(),
        history=[HistoryEntryOut.model_validate(entry) for entry in view.history],
        attachments=[AttachmentSummary.model_validate(a) for a in view.attachments],
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Apply for an e-service (citizens)")
async def submit_application(
    body: ApplicationCreate,
    session: DbSession,
    principal: MaySubmit,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ApplicationDetailOut:
    place = None
    if body.location is not None or body.address is not None:
        place = Place(
            latitude=body.location.lat if body.location else None,
            longitude=body.location.lon if body.location else None,
            address=body.address,
        )
    result = await submit(
        session,
        Submitter.citizen(principal),
        body.service_code,
        body.data,
        place=place,
        attachments=[AttachmentClaim(a.id, a.code) for a in body.attachments],
        idempotency_key=idempotency_key,
    )
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        view = await ApplicationService(session).view(principal, result.application.id)
    else:
        view = ApplicationView(result.application, result.history, result.attachments)
    return detail_out(view, principal)


@router.get("", summary="Your applications (citizens) or your department's queue (caseworkers)")
async def list_applications(
    session: DbSession,
    principal: MayRead,
    page: PageParams,
    service: Annotated[ServiceCodeText | None, Query(description="A service code.")] = None,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    submitted_before: Annotated[
        SubmittedAt | None, Query(description="Only those submitted before (age filter).")
    ] = None,
    submitted_after: Annotated[
        SubmittedAt | None, Query(description="Only those submitted at or after.")
    ] = None,
    origin: Annotated[
        str | None,
        Query(pattern=f"^({Origin.CITIZEN}|{Origin.OPEN311}|{Origin.SENSOR})$"),
    ] = None,
) -> Page[ApplicationOut]:
    items, next_cursor = await ApplicationService(session).browse(
        principal,
        page,
        service=service,
        status=status_,
        submitted_before=submitted_before,
        submitted_after=submitted_after,
        origin=origin,
    )
    return Page(items=[application_out(a, principal) for a in items], next_cursor=next_cursor)


@router.get(
    "/counts",
    summary="How many applications per department or status (caseworkers: their department's; "
    "admins: all)",
)
async def count_applications(
    session: DbSession,
    principal: MayProcess,
    group_by: Annotated[
        Literal["department", "status"], Query(description="Count per department or status.")
    ] = "department",
    open_only: Annotated[
        bool, Query(alias="open", description="Only open applications (default).")
    ] = True,
) -> ApplicationCounts:
    counts = await ApplicationService(session).counts(principal, group_by, open_only=open_only)
    return ApplicationCounts(
        group_by=group_by, open_only=open_only, total=sum(counts.values()), counts=counts
    )


@router.get("/{application_id}", summary="One application with its history")
async def get_application(
    application_id: uuid.UUID, session: DbSession, principal: MayRead
) -> ApplicationDetailOut:
    view = await ApplicationService(session).view(principal, application_id)
    return detail_out(view, principal)


@router.post(
    "/{application_id}/transitions",
    summary="Move an application in its workflow (caseworkers; applicants withdraw or answer)",
)
async def transition_application(
    application_id: uuid.UUID, body: TransitionIn, session: DbSession, principal: MayChangeStatus
) -> ApplicationDetailOut:
    view = await ApplicationService(session).transition(
        principal, application_id, body.status, body.note, attachment_id=body.attachment_id
    )
    return detail_out(view, principal)
