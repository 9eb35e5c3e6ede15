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

    DE_KOMMUNE_EGOV_SERVICE_PUBLISHED_V1 = "de.kommune.egov.service.published.v1"


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
