# Generated from schemas/events/egov/ by schemas/tools/generate.py: do not edit.
# Regenerate with `make schemas`.

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field


class EgovEventType(StrEnum):
    """
    The event types the egov service publishes.
    """

    DE_KOMMUNE_EGOV_APPLICATION_STATUS_CHANGED_V1 = "de.kommune.egov.application.status_changed.v1"
    DE_KOMMUNE_EGOV_APPLICATION_SUBMITTED_V1 = "de.kommune.egov.application.submitted.v1"
    DE_KOMMUNE_EGOV_SERVICE_PUBLISHED_V1 = "de.kommune.egov.service.published.v1"


class ApplicationSubmittedV1(BaseModel):
    """
    An application (a citizen's application, a damage report or a work order opened by a sensor alert) was submitted. Produced by egov on egov.application.v1 (keyed and subject = application_id); consumed by documents, which files it into the E-Akte. Carries no personal data of the applicant beyond the pseudonymous subject id (applicant_sub, for the gateway's activity feed).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    application_id: Annotated[UUID, Field(description="Id of the application.")]
    reference: Annotated[
        str,
        Field(
            description="Case number shown to the citizen (e.g. EG-2026-000042).",
            max_length=40,
            min_length=1,
        ),
    ]
    service_code: Annotated[
        str,
        Field(
            description="Code of the e-service in the catalogue.",
            max_length=60,
            min_length=2,
        ),
    ]
    service_name: Annotated[
        str,
        Field(
            description="German name of the e-service.", max_length=200, min_length=1
        ),
    ]
    department: Annotated[
        str,
        Field(
            description="Code of the responsible department (e.g. buergeramt).",
            max_length=60,
            min_length=1,
        ),
    ]
    submitted_at: Annotated[AwareDatetime, Field(description="When it was submitted.")]
    applicant_sub: Annotated[
        str | None,
        Field(
            description="Pseudonymous OIDC subject of the citizen who applied (null for Open311 reports and sensor work orders): lets the gateway's activity feed show a case to its applicant alone. No name, address or form data. Consumers that do not need it ignore it.",
            max_length=255,
            min_length=1,
        ),
    ] = None


class ServicePublishedV1(BaseModel):
    """
    A citizen e-service went live in the service catalogue. Produced by egov on egov.service.v1 (keyed by service_id); consumed by the ideas service, whose chronicle announces it to staff. Public information: the catalogue is open to everybody.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    service_id: Annotated[
        UUID, Field(description="Id of the e-service in the catalogue.")
    ]
    name: Annotated[
        str,
        Field(
            description="Name of the e-service as citizens see it.",
            max_length=200,
            min_length=1,
        ),
    ]
    summary: Annotated[
        str | None,
        Field(
            description="One or two sentences on what citizens can do with it.",
            max_length=2000,
            min_length=1,
        ),
    ]
    url: Annotated[AnyUrl | None, Field(description="Where citizens find it.")]
    department: Annotated[
        str | None,
        Field(
            description="The department offering it, by name.",
            max_length=200,
            min_length=1,
        ),
    ]
    published_at: Annotated[AwareDatetime, Field(description="When it went live.")]


class ApplicationStatus(StrEnum):
    """
    Where an application stands in its workflow.
    """

    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    NEEDS_INFO = "needs_info"
    INFO_PROVIDED = "info_provided"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class ApplicationStatusChangedV1(BaseModel):
    """
    An application moved to another status of its workflow (by a caseworker, or by the applicant withdrawing or providing information). Produced by egov on egov.application.v1 (keyed and subject = application_id). Carries no note text and no personal data beyond the applicant's pseudonymous subject id (applicant_sub, for the gateway's activity feed).
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    application_id: Annotated[UUID, Field(description="Id of the application.")]
    reference: Annotated[
        str,
        Field(
            description="Case number shown to the citizen.", max_length=40, min_length=1
        ),
    ]
    service_code: Annotated[
        str,
        Field(
            description="Code of the e-service in the catalogue.",
            max_length=60,
            min_length=2,
        ),
    ]
    department: Annotated[
        str,
        Field(
            description="Code of the responsible department.",
            max_length=60,
            min_length=1,
        ),
    ]
    from_status: Annotated[ApplicationStatus, Field(description="The status before.")]
    to_status: Annotated[ApplicationStatus, Field(description="The status now.")]
    changed_at: Annotated[AwareDatetime, Field(description="When it changed.")]
    applicant_sub: Annotated[
        str | None,
        Field(
            description="Pseudonymous OIDC subject of the citizen who applied (null for Open311 reports and sensor work orders): lets the gateway's activity feed show a case to its applicant alone. No name, address or form data. Consumers that do not need it ignore it.",
            max_length=255,
            min_length=1,
        ),
    ] = None
