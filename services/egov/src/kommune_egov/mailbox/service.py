"""The citizen mailbox: messages written by the application workflow, read by their recipient."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import NotFound
from kommune.pagination import PageRequest
from kommune_egov.access import Permission, require
from kommune_egov.applications.models import Application
from kommune_egov.applications.workflow import GERMAN_LABELS, ApplicationStatus
from kommune_egov.mailbox.models import MailboxMessage
from kommune_egov.mailbox.repository import MailboxRepository


class MessageKind(StrEnum):
    SUBMITTED = "submitted"
    STATUS_CHANGED = "status_changed"
    INFO_REQUESTED = "info_requested"


def _compose(
    application: Application, to_status: ApplicationStatus, note: str | None
) -> tuple[MessageKind, str, str]:
    ref = application.reference
    name = application.service_name
    if to_status is ApplicationStatus.SUBMITTED:
        return (
            MessageKind.SUBMITTED,
            f"Eingangsbestätigung: {name} ({ref})",
            f"Ihr Antrag „{name}“ ist bei uns eingegangen. Ihr Aktenzeichen: {ref}.\n"
            "Wir melden uns hier, sobald sich etwas ändert.",
        )
    if to_status is ApplicationStatus.NEEDS_INFO:
        return (
            MessageKind.INFO_REQUESTED,
            f"Rückfrage zu Ihrem Antrag {ref}",
            f"Zu Ihrem Antrag „{name}“ brauchen wir weitere Angaben:\n\n{note or ''}\n\n"
            "Bitte antworten Sie über Ihren Antrag im Serviceportal.",
        )
    label = GERMAN_LABELS[to_status]
    body = f"Ihr Antrag „{name}“ ({ref}) hat einen neuen Stand: {label}."
    if note:
        body += f"\n\n{note}"
    return MessageKind.STATUS_CHANGED, f"Neuer Stand zu {ref}: {label}", body


class MailboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.messages = MailboxRepository(session)

    async def notify(
        self,
        application: Application,
        to_status: ApplicationStatus,
        note: str | None,
        *,
        attachment_id: uuid.UUID | None = None,
    ) -> MailboxMessage | None:
        """The message for the applicant about a step of their case (none for applications
        without a citizen account: Open311 reports, work orders)."""
        if application.applicant_sub is None:
            return None
        kind, subject, body = _compose(application, to_status, note)
        return await self.messages.add(
            MailboxMessage(
                id=uuid.uuid4(),
                recipient_sub=application.applicant_sub,
                application_id=application.id,
                kind=kind.value,
                subject=subject[:300],
                body=body,
                attachment_id=attachment_id,
                created_at=utc_now(),
            )
        )

    async def browse(
        self,
        reader: Principal,
        page: PageRequest,
        *,
        unread: bool | None = None,
        application_id: uuid.UUID | None = None,
    ) -> tuple[list[MailboxMessage], str | None]:
        require(reader, Permission.READ_MAILBOX)
        return await self.messages.page_of(
            reader.sub, page, unread=unread, application_id=application_id
        )

    async def get(self, reader: Principal, message_id: uuid.UUID) -> MailboxMessage:
        require(reader, Permission.READ_MAILBOX)
        message = await self.messages.own(reader.sub, message_id)
        if message is None:
            raise NotFound(MailboxRepository.not_found)
        return message

    async def mark(self, reader: Principal, message_id: uuid.UUID, *, read: bool) -> MailboxMessage:
        require(reader, Permission.READ_MAILBOX)
        message = await self.messages.own(reader.sub, message_id, for_update=True)
        if message is None:
            raise NotFound(MailboxRepository.not_found)
        if read and message.read_at is None:
            message.read_at = utc_now()
        elif not read:
            message.read_at = None
        return message

    async def unread_count(self, reader: Principal) -> int:
        require(reader, Permission.READ_MAILBOX)
        return await self.messages.unread_count(reader.sub)
