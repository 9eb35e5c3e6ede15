"""Applications from the citizen portal are filed in the E-Akte.

``egov.application.v1`` / ``submitted``: the application gets a process (Vorgang) of its own in
the case file of its service and department for the year (created on the first application,
under the plan unit ``DOCUMENTS_EGOV_PLAN_CODE``), and ``documents.filing.v1`` / ``filed``
tells egov the file number. Exactly once: the runner claims the inbox row ``(group, ce_id)``
in the same transaction, and the process's unique ``(source, source_id)`` says the same in the
data, so a second delivery (even under a new event id) files nothing twice.

The event carries no personal data of the citizen, and neither does the process.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.clock import utc_now
from kommune.events.consumer import ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune.events.outbox import Outbox
from kommune_documents import events
from kommune_documents.access import Confidentiality
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.fileplan.repository import PlanUnitRepository
from kommune_documents.files.service import FileService
from kommune_documents.settings import DocumentsSettings

log = structlog.get_logger(__name__)

SOURCE = "egov.application"
ACTOR = "system:egov-filing"
BERLIN = ZoneInfo("Europe/Berlin")


class ApplicationSubmitted(BaseModel):
    """What filing needs of ``de.kommune.egov.application.submitted.v1`` (unknown fields are
    ignored: egov may add some)."""

    model_config = ConfigDict(extra="ignore")

    application_id: uuid.UUID
    reference: Annotated[str, Field(min_length=1, max_length=100)]
    service_code: Annotated[str, Field(min_length=1, max_length=80)]
    service_name: Annotated[str, Field(min_length=1, max_length=150)]
    department: Annotated[str, Field(min_length=1, max_length=40)]
    submitted_at: datetime


def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


async def file_application(
    session: AsyncSession, data: ApplicationSubmitted, plan_code: str
) -> None:
    files = FileService(session)
    if await files.processes.by_source(SOURCE, data.application_id) is not None:
        log.info("application_filed_already", application_id=str(data.application_id))
        return
    plan_unit = await PlanUnitRepository(session).by_code(plan_code)
    if plan_unit is None:
        raise LookupError(f"the plan unit {plan_code} for applications does not exist")
    year = utc_now().astimezone(BERLIN).year
    key = f"egov:{data.department}:{data.service_code}:{year}"
    # One file per key even when two partitions file applications of one service at once.
    await session.execute(select(func.pg_advisory_xact_lock(_lock_key(key))))
    case_file = await files.files.by_source_key(key, for_update=True)
    if case_file is not None and case_file.status != "open":
        case_file.source_key = None  # closed: the next application starts a new file
        await session.flush()
        case_file = None
    if case_file is None:
        case_file = await files.open_file(
            plan_unit,
            title=f"Online-Anträge {data.service_name} {year}",
            department=data.department,
            confidentiality=Confidentiality.NORMAL,
            created_by=ACTOR,
            source_key=key,
        )
    process = await files.open_process(
        case_file,
        title=f"Antrag {data.reference}: {data.service_name}",
        created_by=ACTOR,
        source=SOURCE,
        source_id=data.application_id,
        reference=data.reference,
    )
    now = utc_now()
    AuditTrail(session).record(
        ACTOR,
        Action.APPLICATION_FILED,
        file_id=case_file.id,
        detail={"application_id": str(data.application_id), "process_id": str(process.id)},
    )
    await Outbox(session, events.SOURCE).add(
        events.filing_event(
            events.FILING_FILED,
            process.id,
            events.FilingFiledV1(
                source=events.Source.EGOV_APPLICATION,
                source_id=data.application_id,
                file_id=case_file.id,
                file_number=case_file.file_number,
                process_id=process.id,
                filed_at=now,
            ),
            subject=str(data.application_id),
        )
    )


def filing_consumer(settings: DocumentsSettings) -> ConsumerSpec:
    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.type == events.EGOV_APPLICATION_SUBMITTED:
            data = ApplicationSubmitted.model_validate(event.data)
            await file_application(session, data, settings.egov_plan_code)

    return ConsumerSpec(
        group_id=f"{settings.consumer_group_prefix}.filing",
        topics=(settings.egov_application_topic,),
        handler=handle,
        event_types=frozenset({events.EGOV_APPLICATION_SUBMITTED}),
    )
