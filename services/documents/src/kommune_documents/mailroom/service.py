"""Mailroom rules: who takes in post, who sees which inbox, how an item becomes a document.

* Taking in post and keeping the routing rules: ``records_manager`` and ``admin``
  (:attr:`Permission.HANDLE_MAIL`: the Registratur runs the mailroom); they also see the
  central inbox (items no rule routed) and every department's.
* A department's inbox: its caseworkers (``department`` claim), who file items from it into
  case files they may write. Another department's inbox is 403; an item outside the caller's
  inboxes is 404 (it does not exist for them).
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, Forbidden, InvalidInput, NotFound, validation_errors
from kommune.events.outbox import Outbox
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint, paginate
from kommune_documents import events
from kommune_documents.access import Permission, can, require
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.documents.content_types import PDF, sniff
from kommune_documents.documents.extract import IMAGE_TYPES, extract
from kommune_documents.documents.models import Document, DocumentVersion
from kommune_documents.documents.repository import DocumentRepository
from kommune_documents.documents.storage import ContentStore
from kommune_documents.documents.upload import UnsupportedMediaType, Upload
from kommune_documents.files.models import Status
from kommune_documents.files.service import FileService
from kommune_documents.mailroom.models import MailItem, MailStatus, RoutingRule
from kommune_documents.mailroom.routing import put_into, route
from kommune_documents.mailroom.schemas import FileMail, MailFields, Reroute, RuleCreate
from kommune_documents.ocr.requests import OcrStatus, request_ocr

NOT_FOUND = "No such mail item."
SCAN_TYPES = frozenset({PDF}) | IMAGE_TYPES
"""Scanned post: PDF or an image (PNG, JPEG, TIFF)."""
MAX_FILENAME = 255
OLDEST_FIRST = Ordering(
    "received",
    (
        SortKey(MailItem.received_at, "datetime", descending=False),
        SortKey(MailItem.id, "uuid", descending=False),
    ),
)


def _fields(upload: Upload) -> MailFields:
    try:
        return MailFields.model_validate(upload.fields)
    except ValidationError as error:
        raise InvalidInput("Invalid form fields.", errors=validation_errors(error)) from error


def _filename(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_FILENAME] or "scan"


def handles_department(principal: Principal, department: str) -> bool:
    """May ``principal`` work the inbox of ``department``?"""
    if can(principal, Permission.HANDLE_MAIL):
        return True
    return can(principal, Permission.EDIT_FILES) and principal.department == department


class MailroomService:
    def __init__(self, session: AsyncSession, store: ContentStore, max_extract_bytes: int) -> None:
        self.session = session
        self.store = store
        self.max_extract_bytes = max_extract_bytes
        self.audit = AuditTrail(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- taking in post ------------------------------------------------------------------------

    async def receive(self, principal: Principal, upload: Upload) -> MailItem:
        require(principal, Permission.HANDLE_MAIL)
        fields = _fields(upload)
        staged = upload.content
        assert staged is not None
        media_type = sniff(staged.head)
        if media_type not in SCAN_TYPES:
            raise UnsupportedMediaType("The mailroom takes scans: PDF, PNG, JPEG or TIFF.")
        filename = _filename(upload.filename)
        await self.store.publish(staged)
        await DocumentRepository(self.session).add_blob(staged.sha256, staged.size, media_type)
        scanned = staged.size <= self.max_extract_bytes
        text, needs_ocr = "", False
        if scanned:
            extracted = await anyio.to_thread.run_sync(extract, staged.path, media_type)
            text, needs_ocr = extracted.text, extracted.needs_ocr
        now = utc_now()
        item = MailItem(
            sha256=staged.sha256,
            filename=filename,
            media_type=media_type,
            size=staged.size,
            sender=fields.sender,
            subject=fields.subject or filename[:200],
            content_text=text,
            ocr_status=OcrStatus.PENDING if needs_ocr else None,
            status=MailStatus.AWAITING_OCR if needs_ocr else MailStatus.IN_INBOX,
            received_by=principal.sub,
            received_at=now,
        )
        self.session.add(item)
        await self.session.flush()
        self.audit.record(
            principal,
            Action.MAIL_RECEIVED,
            detail={"item_id": str(item.id), "sha256": item.sha256, "size": item.size},
        )
        await self.outbox.add(
            events.mail_event(
                events.MAIL_RECEIVED,
                item.id,
                events.MailReceivedV1(
                    item_id=item.id,
                    sha256=item.sha256,
                    media_type=media_type,
                    size=item.size,
                    received_at=now,
                ),
            )
        )
        if needs_ocr:
            await request_ocr(
                self.outbox,
                events.Target.MAIL_ITEM,
                item.id,
                version=1,
                sha256=item.sha256,
                media_type=media_type,
            )
        else:
            await route(self.session, item)
        return item

    # -- rules ---------------------------------------------------------------------------------

    async def add_rule(self, principal: Principal, body: RuleCreate) -> RoutingRule:
        require(principal, Permission.HANDLE_MAIL)
        rule = RoutingRule(
            department=body.department,
            sender=body.sender,
            keyword=body.keyword,
            priority=body.priority,
            created_by=principal.sub,
            created_at=utc_now(),
        )
        self.session.add(rule)
        await self.session.flush()
        return rule

    async def rules(self, principal: Principal) -> list[RoutingRule]:
        require(principal, Permission.HANDLE_MAIL)
        result = await self.session.execute(
            select(RoutingRule).order_by(
                RoutingRule.priority, RoutingRule.created_at, RoutingRule.id
            )
        )
        return list(result.scalars())

    # -- inboxes -------------------------------------------------------------------------------

    async def inbox(
        self, principal: Principal, department: str | None, page: PageRequest
    ) -> tuple[list[MailItem], str | None]:
        """Items waiting in ``department``'s inbox (``None``: the central inbox), oldest first."""
        if department is None:
            require(principal, Permission.HANDLE_MAIL)
            where: Any = MailItem.department.is_(None)
        else:
            if not handles_department(principal, department):
                raise Forbidden("This is another department's inbox.")
            where = MailItem.department == department
        statement = select(MailItem).where(MailItem.status == MailStatus.IN_INBOX).where(where)
        return await paginate(
            self.session, statement, OLDEST_FIRST, page, filters=fingerprint(department)
        )

    def _visible(self, principal: Principal, item: MailItem) -> bool:
        if can(principal, Permission.HANDLE_MAIL):
            return True
        return item.department is not None and handles_department(principal, item.department)

    async def get(
        self, principal: Principal, item_id: uuid.UUID, *, lock: bool = False
    ) -> MailItem:
        require(principal, Permission.READ_FILES)
        item = await self.session.get(MailItem, item_id, with_for_update=lock)
        if item is None or not self._visible(principal, item):
            raise NotFound(NOT_FOUND)
        return item

    async def reroute(self, principal: Principal, item_id: uuid.UUID, body: Reroute) -> MailItem:
        """Move an item waiting in an inbox to another department's: the mailroom from any
        inbox (the central one included), a caseworker from their own department's."""
        require(principal, Permission.READ_FILES)
        item = await self.get(principal, item_id, lock=True)
        if item.status != MailStatus.IN_INBOX:
            raise Conflict("Only an item waiting in an inbox can be sent to another one.")
        if item.department == body.department:
            raise Conflict("The item is in this department's inbox already.")
        previous = item.department
        await put_into(self.session, item, body.department, None)
        self.audit.record(
            principal,
            Action.MAIL_ROUTED,
            detail={"item_id": str(item.id), "from": previous, "to": body.department},
        )
        return item

    async def download(self, principal: Principal, item_id: uuid.UUID) -> MailItem:
        """The item, for a download of its scan (audited like a document's download)."""
        item = await self.get(principal, item_id)
        self.audit.record(
            principal,
            Action.MAIL_DOWNLOADED,
            document_id=item.document_id,
            detail={"item_id": str(item.id), "sha256": item.sha256},
        )
        return item

    # -- filing --------------------------------------------------------------------------------

    async def file(self, principal: Principal, item_id: uuid.UUID, body: FileMail) -> MailItem:
        """The item becomes version 1 of a new document in the target file (and process)."""
        require(principal, Permission.EDIT_FILES)
        item = await self.get(principal, item_id, lock=True)
        if item.status == MailStatus.FILED:
            raise Conflict("This mail item is filed already.")
        if item.status != MailStatus.IN_INBOX:
            raise Conflict("This mail item is still being read (OCR); file it once it is routed.")
        files = FileService(self.session)
        case_file = await files.writable(principal, body.file_id, Action.MAIL_FILED)
        files.require_open(case_file)
        if body.process_id is not None:
            process = await files.processes.in_file(case_file.id, body.process_id)
            if process is None:
                raise InvalidInput("No such process in this file.", field="process_id")
            if process.status != Status.OPEN:
                raise Conflict("The process is closed.")
        now = utc_now()
        document = Document(
            file_id=case_file.id,
            process_id=body.process_id,
            title=body.title or item.subject,
            current_version=1,
            content_text=item.content_text,
            created_by=principal.sub,
            created_at=now,
            updated_at=now,
        )
        self.session.add(document)
        await self.session.flush()
        self.session.add(
            DocumentVersion(
                document_id=document.id,
                version=1,
                sha256=item.sha256,
                filename=item.filename,
                media_type=item.media_type,
                size=item.size,
                created_by=principal.sub,
                created_at=now,
                ocr_status=item.ocr_status,
            )
        )
        item.status = MailStatus.FILED
        item.document_id = document.id
        item.filed_by = principal.sub
        item.filed_at = now
        await self.session.flush()
        detail = {"item_id": str(item.id), "version": 1, "sha256": item.sha256}
        self.audit.record(
            principal,
            Action.DOCUMENT_CREATED,
            file_id=case_file.id,
            document_id=document.id,
            detail=detail,
        )
        self.audit.record(
            principal,
            Action.MAIL_FILED,
            file_id=case_file.id,
            document_id=document.id,
            detail=detail,
        )
        await self.outbox.add(
            events.document_event(
                events.DOCUMENT_VERSION_ADDED,
                document.id,
                events.DocumentVersionAddedV1(
                    document_id=document.id,
                    file_id=case_file.id,
                    process_id=body.process_id,
                    version=1,
                    sha256=item.sha256,
                    size=item.size,
                    media_type=item.media_type,
                    added_at=now,
                ),
            )
        )
        await self.outbox.add(
            events.mail_event(
                events.MAIL_FILED,
                item.id,
                events.MailFiledV1(
                    item_id=item.id,
                    document_id=document.id,
                    file_id=case_file.id,
                    process_id=body.process_id,
                    filed_at=now,
                ),
            )
        )
        return item
