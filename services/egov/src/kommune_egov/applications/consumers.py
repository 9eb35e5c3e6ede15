"""What egov learns from the documents service: the file number of a filed application.

``documents.filing.v1`` / ``de.kommune.documents.filing.filed.v1`` with ``source ==
"egov.application"`` → the case shows ``file_number``. The runner's inbox row makes a
redelivered event a no-op; an event about an application this database does not hold (another
environment on the same broker) is consumed and skipped. Payloads are read tolerantly.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.consumer import ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune_egov import events
from kommune_egov.applications.service import ApplicationService
from kommune_egov.settings import EgovSettings

log = structlog.get_logger(__name__)

APPLICATION_SOURCE = "egov.application"


class Filed(BaseModel):
    """What egov needs of ``de.kommune.documents.filing.filed.v1`` (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore")

    source: Annotated[str, Field(max_length=100)]
    source_id: uuid.UUID
    file_id: uuid.UUID
    file_number: Annotated[str, Field(min_length=1, max_length=100)]
    filed_at: datetime


async def on_filed(session: AsyncSession, event: ReceivedEvent) -> None:
    data = Filed.model_validate(event.data)
    if data.source != APPLICATION_SOURCE:
        return
    application = await ApplicationService(session).record_filing(
        data.source_id, data.file_id, data.file_number, data.filed_at
    )
    if application is None:
        log.warning("filing_unknown_application", application_id=str(data.source_id))


async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
    if event.type == events.FILING_FILED:
        await on_filed(session, event)


def filing_consumer(settings: EgovSettings) -> ConsumerSpec:
    return ConsumerSpec(
        group_id=f"{settings.consumer_group_prefix}.filing",
        topics=(events.FILING_TOPIC,),
        handler=handle,
        event_types=frozenset({events.FILING_FILED}),
    )
