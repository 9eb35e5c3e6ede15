"""Asking for OCR: the ``ocr_requested`` event, written to the outbox with the stored content."""

from __future__ import annotations

import uuid
from enum import StrEnum

from kommune.clock import utc_now
from kommune.events.outbox import Outbox
from kommune_documents import events


class OcrStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """A newer version of the document came first; its own text is what search shows."""


async def request_ocr(
    outbox: Outbox,
    target: events.Target,
    target_id: uuid.UUID,
    *,
    version: int,
    sha256: str,
    media_type: str,
) -> None:
    """Queue the scan for the OCR consumer (keyed by ``target_id``: one target, one order)."""
    await outbox.add(
        events.document_event(
            events.OCR_REQUESTED,
            target_id,
            events.DocumentOcrRequestedV1(
                target=target,
                target_id=target_id,
                version=version,
                sha256=sha256,
                media_type=media_type,
                requested_at=utc_now(),
            ),
        )
    )
