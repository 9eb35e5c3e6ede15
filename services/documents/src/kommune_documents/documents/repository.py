"""Document, version and blob queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from kommune.auth.principal import Principal
from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_documents.documents.models import Blob, Document, DocumentVersion
from kommune_documents.files.models import CaseFile
from kommune_documents.files.repository import readable

NEWEST_FIRST = Ordering(
    "created", (SortKey(Document.created_at, "datetime"), SortKey(Document.id, "uuid"))
)


class DocumentRepository(Repository[Document]):
    model = Document
    not_found = "No such document."

    async def versions(self, document_id: uuid.UUID) -> list[DocumentVersion]:
        result = await self.session.execute(
            select(DocumentVersion)
            .where(DocumentVersion.document_id == document_id)
            .order_by(DocumentVersion.version)
        )
        return list(result.scalars())

    async def children(self, document_id: uuid.UUID) -> list[Document]:
        result = await self.session.execute(
            select(Document)
            .where(Document.parent_id == document_id)
            .order_by(Document.created_at, Document.id)
        )
        return list(result.scalars())

    async def version(self, document_id: uuid.UUID, version: int) -> DocumentVersion | None:
        result = await self.session.execute(
            select(DocumentVersion).where(
                DocumentVersion.document_id == document_id, DocumentVersion.version == version
            )
        )
        return result.scalar_one_or_none()

    async def add_blob(self, sha256: str, size: int, media_type: str) -> None:
        """Once per content; a second upload of the same bytes finds the row (dedup)."""
        await self.session.execute(
            insert(Blob)
            .values(sha256=sha256, size=size, media_type=media_type)
            .on_conflict_do_nothing(index_elements=[Blob.sha256])
        )

    async def page(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        file_id: uuid.UUID | None,
        process_id: uuid.UUID | None,
    ) -> tuple[list[Document], str | None]:
        statement = (
            select(Document)
            .join(CaseFile, CaseFile.id == Document.file_id)
            .where(readable(principal))
        )
        if file_id is not None:
            statement = statement.where(Document.file_id == file_id)
        if process_id is not None:
            statement = statement.where(Document.process_id == process_id)
        return await self.paginate(
            statement, NEWEST_FIRST, page, filters=fingerprint(principal.sub, file_id, process_id)
        )
