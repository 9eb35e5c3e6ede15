"""The OCR consumer: ``ocr_requested`` → Tesseract in a worker thread → text stored, searchable.

Its own consumer group on ``documents.document.v1`` (only ``ocr_requested`` is decoded).
Exactly once like every consumer: the runner claims the inbox row ``(group, ce_id)`` in the
handler's transaction, and the target's ``ocr_status`` says the same in the data (only a
``pending`` one is read), so a redelivered request reads nothing twice.

The slow part runs before any row is locked; the rows are locked and re-checked afterwards. A
scan that cannot be read (broken, too large, over its time limit) is recorded as ``failed`` and
announced with ``ocr_failed``: the handler returns normally, so the event is not retried (the same
bytes would fail again). Only infrastructure errors (the database, a missing ``tesseract``)
propagate to the runner's retry and dead-letter rules.
"""

from __future__ import annotations

import uuid

import anyio.to_thread
import structlog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.clock import utc_now
from kommune.events.consumer import ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune.events.outbox import Outbox
from kommune_documents import events
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.documents.backends import build_store
from kommune_documents.documents.models import Document, DocumentVersion
from kommune_documents.documents.storage import ContentStore
from kommune_documents.mailroom.models import MailItem
from kommune_documents.mailroom.routing import route
from kommune_documents.ocr.engine import Limits, OcrFailed, Recognised, recognise
from kommune_documents.ocr.requests import OcrStatus
from kommune_documents.settings import DocumentsSettings

log = structlog.get_logger(__name__)

ACTOR = "system:ocr"


class OcrRequested(BaseModel):
    """What the consumer needs of ``ocr_requested`` (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    target: events.Target
    target_id: uuid.UUID
    version: int
    sha256: str
    media_type: str


class OcrReader:
    def __init__(self, store: ContentStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits

    async def read(
        self, data: OcrRequested, sha256: str, media_type: str
    ) -> Recognised | OcrFailed:
        """OCR of the stored content (hash and type from the row, not from the event)."""
        try:
            return await anyio.to_thread.run_sync(self.recognise_stored, sha256, media_type)
        except OcrFailed as failure:
            log.info("ocr_failed", target=data.target.value, reason=failure.reason.value)
            return failure

    def recognise_stored(self, sha256: str, media_type: str) -> Recognised:
        """Blocking: the content as a local file (a temporary copy from S3), read by Tesseract."""
        with self.store.local_copy(sha256) as path:
            return recognise(path, media_type, self.limits)

    async def handle(self, session: AsyncSession, data: OcrRequested) -> None:
        if data.target == events.Target.DOCUMENT:
            await self._document(session, data)
        else:
            await self._mail_item(session, data)

    async def _document(self, session: AsyncSession, data: OcrRequested) -> None:
        pending_version = (
            select(DocumentVersion)
            .where(DocumentVersion.document_id == data.target_id)
            .where(DocumentVersion.version == data.version)
            .where(DocumentVersion.ocr_status == OcrStatus.PENDING)
        )
        pending = (await session.execute(pending_version)).scalar_one_or_none()
        if pending is None:
            return  # read already (or the document is gone)
        outcome = await self.read(data, pending.sha256, pending.media_type)
        document = await session.get(Document, data.target_id, with_for_update=True)
        version = (await session.execute(pending_version.with_for_update())).scalar_one_or_none()
        if document is None or version is None:
            return
        if isinstance(outcome, OcrFailed):
            version.ocr_status = OcrStatus.FAILED
        elif document.current_version != version.version:
            version.ocr_status = OcrStatus.SUPERSEDED
            return
        else:
            version.ocr_status = OcrStatus.DONE
            document.content_text = outcome.text
            AuditTrail(session).record(
                ACTOR,
                Action.OCR_COMPLETED,
                file_id=document.file_id,
                document_id=document.id,
                detail={"version": version.version, "pages": outcome.pages},
            )
        await _announce(session, data, outcome)

    async def _mail_item(self, session: AsyncSession, data: OcrRequested) -> None:
        item = await session.get(MailItem, data.target_id)
        if item is None or item.ocr_status != OcrStatus.PENDING:
            return
        outcome = await self.read(data, item.sha256, item.media_type)
        await session.refresh(item, with_for_update=True)
        if item.ocr_status != OcrStatus.PENDING:
            return
        if isinstance(outcome, OcrFailed):
            item.ocr_status = OcrStatus.FAILED
        else:
            item.ocr_status = OcrStatus.DONE
            item.content_text = outcome.text
        await _announce(session, data, outcome)
        await route(session, item)


async def _announce(
    session: AsyncSession, data: OcrRequested, outcome: Recognised | OcrFailed
) -> None:
    now = utc_now()
    if isinstance(outcome, OcrFailed):
        event = events.document_event(
            events.OCR_FAILED,
            data.target_id,
            events.DocumentOcrFailedV1(
                target=data.target,
                target_id=data.target_id,
                version=data.version,
                sha256=data.sha256,
                reason=outcome.reason,
                failed_at=now,
            ),
        )
    else:
        event = events.document_event(
            events.OCR_COMPLETED,
            data.target_id,
            events.DocumentOcrCompletedV1(
                target=data.target,
                target_id=data.target_id,
                version=data.version,
                sha256=data.sha256,
                pages=outcome.pages,
                characters=len(outcome.text),
                completed_at=now,
            ),
        )
    await Outbox(session, events.SOURCE).add(event)


def ocr_consumer(settings: DocumentsSettings) -> ConsumerSpec:
    reader = OcrReader(
        build_store(settings),
        Limits(
            max_pages=settings.ocr_max_pages,
            page_timeout=settings.ocr_page_timeout_seconds,
            total_timeout=settings.ocr_total_timeout_seconds,
            dpi=settings.ocr_dpi,
        ),
    )

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.type == events.OCR_REQUESTED:
            await reader.handle(session, OcrRequested.model_validate(event.data))

    return ConsumerSpec(
        group_id=f"{settings.consumer_group_prefix}.ocr",
        topics=(events.DOCUMENT_TOPIC,),
        handler=handle,
        event_types=frozenset({events.OCR_REQUESTED}),
    )
