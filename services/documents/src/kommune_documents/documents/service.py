"""Document rules: documents live in a case file (and optionally one of its processes); every
upload is a new version, the old ones are kept; content is stored once per SHA-256.

Who may add and read is the file's rule (:class:`~kommune_documents.files.service.FileService`):
adding needs write access to an open file (and open process), reading and downloading need read
access; a document in a file the caller may not read is 404, and the attempt is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput, NotFound, validation_errors
from kommune.events.outbox import Outbox
from kommune.pagination import PageRequest
from kommune_documents import events
from kommune_documents.access import Permission, require
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.documents.attachments import attachments_of
from kommune_documents.documents.content_types import EMAIL, sniff
from kommune_documents.documents.extract import Extracted, extract
from kommune_documents.documents.models import Document, DocumentVersion
from kommune_documents.documents.repository import DocumentRepository
from kommune_documents.documents.schemas import DocumentFields
from kommune_documents.documents.storage import ContentStore
from kommune_documents.documents.upload import UnsupportedMediaType, Upload
from kommune_documents.files.models import Status
from kommune_documents.files.service import FileService
from kommune_documents.ocr.requests import OcrStatus, request_ocr

NOT_FOUND = "No such document."
MAX_FILENAME = 255


@dataclass(frozen=True)
class Stored:
    document: Document
    versions: list[DocumentVersion]
    deduplicated: bool
    attachments: tuple[Document, ...] = ()


@dataclass(frozen=True)
class Download:
    version: DocumentVersion


def _clean_name(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_FILENAME] or "document"


def _filename(upload: Upload) -> str:
    return _clean_name(upload.filename)


class DocumentService:
    def __init__(self, session: AsyncSession, store: ContentStore, max_extract_bytes: int) -> None:
        self.session = session
        self.store = store
        self.max_extract_bytes = max_extract_bytes
        self.documents = DocumentRepository(session)
        self.files = FileService(session)
        self.audit = AuditTrail(session)
        self.outbox = Outbox(session, events.SOURCE)

    async def create(self, principal: Principal, upload: Upload) -> Stored:
        require(principal, Permission.EDIT_FILES)
        try:
            fields = DocumentFields.model_validate(upload.fields)
        except ValidationError as error:
            raise InvalidInput("Invalid form fields.", errors=validation_errors(error)) from error
        case_file = await self.files.writable(principal, fields.file_id, Action.DOCUMENT_CREATED)
        self.files.require_open(case_file)
        if fields.process_id is not None:
            process = await self.files.processes.in_file(case_file.id, fields.process_id)
            if process is None:
                raise InvalidInput("No such process in this file.", field="process_id")
            if process.status != Status.OPEN:
                raise Conflict("The process is closed.")
        filename = _filename(upload)
        now = utc_now()
        document = await self.documents.add(
            Document(
                file_id=case_file.id,
                process_id=fields.process_id,
                title=fields.title or filename[:200],
                current_version=0,
                content_text="",
                created_by=principal.sub,
                created_at=now,
                updated_at=now,
            )
        )
        stored = await self._add_version(
            principal, document, upload, filename, Action.DOCUMENT_CREATED
        )
        version = stored.versions[-1]
        if version.media_type == EMAIL and version.size <= self.max_extract_bytes:
            assert upload.content is not None
            await self._file_attachments(principal, document, upload.content.path)
            children = tuple(await self.documents.children(document.id))
            return Stored(stored.document, stored.versions, stored.deduplicated, children)
        return stored

    async def add_version(
        self, principal: Principal, document_id: uuid.UUID, upload: Upload
    ) -> Stored:
        require(principal, Permission.EDIT_FILES)
        document = await self._readable(principal, document_id, Action.VERSION_ADDED)
        case_file = await self.files.writable(principal, document.file_id, Action.VERSION_ADDED)
        self.files.require_open(case_file)
        if document.process_id is not None:
            process = await self.files.processes.get(document.process_id)
            if process.status != Status.OPEN:
                raise Conflict("The process is closed.")
        document = await self.documents.get(document_id, for_update=True)
        return await self._add_version(
            principal, document, upload, _filename(upload), Action.VERSION_ADDED
        )

    async def _add_version(
        self,
        principal: Principal,
        document: Document,
        upload: Upload,
        filename: str,
        action: Action,
    ) -> Stored:
        staged = upload.content
        assert staged is not None
        media_type = sniff(staged.head)
        if media_type is None:
            raise UnsupportedMediaType(
                "This kind of content is not accepted (PDF, office documents, images, "
                "e-mail, XML and text are)."
            )
        size, sha256 = staged.size, staged.sha256
        created = await self.store.publish(staged)
        await self.documents.add_blob(sha256, size, media_type)
        extracted = Extracted("")
        if size <= self.max_extract_bytes:
            extracted = await anyio.to_thread.run_sync(extract, staged.path, media_type)
        now = utc_now()
        document.current_version += 1
        document.content_text = extracted.text
        document.updated_at = now
        version = DocumentVersion(
            document_id=document.id,
            version=document.current_version,
            sha256=sha256,
            filename=filename,
            media_type=media_type,
            size=size,
            created_by=principal.sub,
            created_at=now,
            ocr_status=OcrStatus.PENDING if extracted.needs_ocr else None,
        )
        self.session.add(version)
        await self.session.flush()
        self.audit.record(
            principal,
            action,
            file_id=document.file_id,
            document_id=document.id,
            detail={"version": version.version, "sha256": sha256, "size": size},
        )
        await self.outbox.add(
            events.document_event(
                events.DOCUMENT_VERSION_ADDED,
                document.id,
                events.DocumentVersionAddedV1(
                    document_id=document.id,
                    file_id=document.file_id,
                    process_id=document.process_id,
                    version=version.version,
                    sha256=sha256,
                    size=size,
                    media_type=media_type,
                    added_at=now,
                ),
            )
        )
        if extracted.needs_ocr:
            await request_ocr(
                self.outbox,
                events.Target.DOCUMENT,
                document.id,
                version=version.version,
                sha256=sha256,
                media_type=media_type,
            )
        return Stored(document, await self.documents.versions(document.id), not created)

    async def _file_attachments(
        self, principal: Principal, email_document: Document, email: Path
    ) -> None:
        """Each attachment of an accepted type becomes a document of its own, a child of the
        e-mail, in the same file and process; others stay only inside the stored e-mail."""
        found = await anyio.to_thread.run_sync(attachments_of, email)
        for attachment in found:
            staged = self.store.stage(len(attachment.content))
            try:
                staged.feed(attachment.content)
                await staged.finish()
                media_type = sniff(staged.head)
                if media_type is None:
                    continue
                child = await self.documents.add(
                    Document(
                        file_id=email_document.file_id,
                        process_id=email_document.process_id,
                        parent_id=email_document.id,
                        title=_clean_name(attachment.filename)[:200],
                        current_version=0,
                        content_text="",
                        created_by=principal.sub,
                        created_at=utc_now(),
                        updated_at=utc_now(),
                    )
                )
                upload = Upload(content=staged, filename=attachment.filename)
                await self._add_version(
                    principal,
                    child,
                    upload,
                    _clean_name(attachment.filename),
                    Action.DOCUMENT_CREATED,
                )
            finally:
                staged.discard()

    async def _readable(
        self, principal: Principal, document_id: uuid.UUID, action: Action
    ) -> Document:
        document = await self.documents.find(document_id)
        if document is None:
            raise NotFound(NOT_FOUND)
        try:
            await self.files.readable(principal, document.file_id, action, document_id=document_id)
        except NotFound:
            raise NotFound(NOT_FOUND) from None
        return document

    async def get(self, principal: Principal, document_id: uuid.UUID) -> Stored:
        require(principal, Permission.READ_FILES)
        document = await self._readable(principal, document_id, Action.DOCUMENT_READ)
        self.audit.record(
            principal, Action.DOCUMENT_READ, file_id=document.file_id, document_id=document.id
        )
        return Stored(
            document,
            await self.documents.versions(document.id),
            False,
            tuple(await self.documents.children(document.id)),
        )

    async def browse(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        file_id: uuid.UUID | None = None,
        process_id: uuid.UUID | None = None,
    ) -> tuple[list[Document], str | None]:
        require(principal, Permission.READ_FILES)
        return await self.documents.page(principal, page, file_id=file_id, process_id=process_id)

    async def download(
        self, principal: Principal, document_id: uuid.UUID, version_number: int | None
    ) -> Download:
        require(principal, Permission.READ_FILES)
        document = await self._readable(principal, document_id, Action.DOCUMENT_DOWNLOADED)
        number = version_number or document.current_version
        version = await self.documents.version(document.id, number)
        if version is None:
            raise NotFound("No such version of this document.")
        self.audit.record(
            principal,
            Action.DOCUMENT_DOWNLOADED,
            file_id=document.file_id,
            document_id=document.id,
            detail={"version": version.version},
        )
        return Download(version)
