"""Uploads: size and type limits (type sniffed from the bytes), and who may read a file."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import DomainError, NotFound, PayloadTooLarge
from kommune_egov.applications.models import Application
from kommune_egov.applications.repository import visible_to
from kommune_egov.attachments.models import Attachment
from kommune_egov.attachments.repository import AttachmentRepository
from kommune_egov.attachments.sniffing import ALLOWED_TYPES, sniff
from kommune_egov.mailbox.models import MailboxMessage


class UnsupportedMediaType(DomainError):  # noqa: N818 - named like its HTTP status
    status_code = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def safe_filename(name: str | None, content_type: str) -> str:
    """A display name without paths or control characters, ending in the sniffed type's suffix."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("_", base).strip(" ._")[:150] or "datei"
    suffix = ALLOWED_TYPES[content_type]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'datei'}{suffix}"


class AttachmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.attachments = AttachmentRepository(session)

    async def upload(
        self, owner: Principal, filename: str | None, content: bytes, max_bytes: int
    ) -> Attachment:
        if len(content) > max_bytes:
            raise PayloadTooLarge(f"An attachment may have at most {max_bytes} bytes.")
        content_type = sniff(content)
        if content_type is None:
            raise UnsupportedMediaType(
                "Only PDF, JPEG and PNG files are accepted (read from the file's content).",
                allowed=sorted(ALLOWED_TYPES),
            )
        return await self.attachments.add(
            Attachment(
                id=uuid.uuid4(),
                owner_sub=owner.sub,
                filename=safe_filename(filename, content_type),
                content_type=content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                created_at=utc_now(),
            )
        )

    async def readable(self, reader: Principal, attachment_id: uuid.UUID) -> Attachment:
        """The file with its content if ``reader`` uploaded it, may see its application, or got
        it in their mailbox; 404 otherwise (never 403: ids are not confirmed to strangers)."""
        attachment = await self.attachments.with_content(attachment_id)
        if attachment is None:
            raise NotFound(AttachmentRepository.not_found)
        if attachment.owner_sub == reader.sub:
            return attachment
        if attachment.application_id is not None:
            visible = await self.session.execute(
                select(Application.id).where(
                    Application.id == attachment.application_id, visible_to(reader)
                )
            )
            if visible.scalar_one_or_none() is not None:
                return attachment
        delivered = await self.session.execute(
            select(MailboxMessage.id).where(
                MailboxMessage.attachment_id == attachment_id,
                MailboxMessage.recipient_sub == reader.sub,
            )
        )
        if delivered.first() is not None:
            return attachment
        raise NotFound(AttachmentRepository.not_found)
