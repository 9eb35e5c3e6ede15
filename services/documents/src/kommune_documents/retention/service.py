"""Retention and disposal.

A closed file is **due** when its closing date plus its plan unit's retention period has passed
(units without a period are kept forever), unless it is on **legal hold** or already disposed or
offered. A disposal run offers every due file to the archive (xdomea 0501), takes the archive's
appraisal (0502: A take over, V destroy; units decided ``A`` or ``V`` in the plan are preset, ``B``
files must be appraised), hands the ``A`` files over as a ZIP of metadata and content (0503), and
on the archive's confirmation (0506) deletes their content: documents and versions go, content
no other version uses is removed from the store, the case file stays as a tombstone
(``disposed_at``, its processes, its audit trail). A file put on hold after the offer is kept.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlalchemy import ColumnElement, Date, and_, cast, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import Ordering, PageRequest, SortKey, paginate
from kommune_documents import events
from kommune_documents.access import Permission, require
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.documents.models import Blob, Document, DocumentVersion
from kommune_documents.documents.storage import ContentStore
from kommune_documents.fileplan.models import PlanUnit
from kommune_documents.files.models import CaseFile, Status
from kommune_documents.retention import xdomea
from kommune_documents.retention.models import DisposalItem, DisposalRun, Outcome, RunState
from kommune_documents.retention.schemas import AppraisalSet

MAX_RUN_FILES = 1000

_DUE_AT = CaseFile.closed_at + func.make_interval(PlanUnit.retention_years)
DUE_ORDER = Ordering(
    "due",
    (
        SortKey(
            func.coalesce(CaseFile.closed_at, CaseFile.opened_at), "datetime", descending=False
        ),
        SortKey(CaseFile.id, "uuid", descending=False),
    ),
)


def _due_clause(now: datetime) -> ColumnElement[bool]:
    offered = exists().where(
        DisposalItem.file_id == CaseFile.id,
        DisposalItem.run_id == DisposalRun.id,
        DisposalRun.state != RunState.COMPLETED,
    )
    return and_(
        CaseFile.status == Status.CLOSED,
        CaseFile.disposed_at.is_(None),
        CaseFile.legal_hold.is_(None),
        PlanUnit.retention_years.is_not(None),
        now >= _DUE_AT,
        ~offered,
    )


@dataclass(frozen=True)
class Disposed:
    run: DisposalRun
    items: list[DisposalItem]
    unused_content: list[str]
    """Hashes no version refers to any more: removed from the store after the commit."""


def _write_package(
    target: Path, metadata: bytes, store: ContentStore, contents: list[tuple[DocumentVersion, str]]
) -> None:
    """The ZIP, content copied piece by piece from the store (whichever backend)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as package:
        package.writestr("xdomea_0503.xml", metadata)
        for version, name in contents:
            with package.open(name, "w", force_zip64=version.size >= zipfile.ZIP64_LIMIT) as out:
                for piece in store.chunks(version.sha256):
                    out.write(piece)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "x"


class RetentionService:
    def __init__(self, session: AsyncSession, store: ContentStore) -> None:
        self.session = session
        self.store = store
        self.audit = AuditTrail(session)
        self.outbox = Outbox(session, events.SOURCE)

    # -- legal holds -------------------------------------------------------------------------

    async def _file(self, file_id: uuid.UUID) -> CaseFile:
        statement = select(CaseFile).where(CaseFile.id == file_id).with_for_update()
        case_file = (await self.session.execute(statement)).scalar_one_or_none()
        if case_file is None:
            raise NotFound("No such case file.")
        return case_file

    async def set_hold(self, principal: Principal, file_id: uuid.UUID, reason: str) -> CaseFile:
        require(principal, Permission.MANAGE_RETENTION)
        case_file = await self._file(file_id)
        if case_file.disposed_at is not None:
            raise Conflict("The file was disposed of already.")
        case_file.legal_hold = reason
        case_file.updated_at = utc_now()
        await self.session.flush()
        self.audit.record(
            principal, Action.LEGAL_HOLD_SET, file_id=file_id, detail={"reason": reason}
        )
        return case_file

    async def clear_hold(self, principal: Principal, file_id: uuid.UUID) -> CaseFile:
        require(principal, Permission.MANAGE_RETENTION)
        case_file = await self._file(file_id)
        if case_file.legal_hold is None:
            raise Conflict("The file is not on legal hold.")
        case_file.legal_hold = None
        case_file.updated_at = utc_now()
        await self.session.flush()
        self.audit.record(principal, Action.LEGAL_HOLD_CLEARED, file_id=file_id)
        return case_file

    # -- due files ---------------------------------------------------------------------------

    async def due(
        self, principal: Principal, page: PageRequest
    ) -> tuple[list[dict[str, Any]], str | None]:
        require(principal, Permission.MANAGE_RETENTION)
        statement = (
            select(CaseFile)
            .join(PlanUnit, PlanUnit.id == CaseFile.plan_unit_id)
            .where(_due_clause(utc_now()))
        )
        files, next_cursor = await paginate(self.session, statement, DUE_ORDER, page)
        return [await self._due_row(f) for f in files], next_cursor

    async def _due_row(self, case_file: CaseFile) -> dict[str, Any]:
        unit = await self.session.get_one(PlanUnit, case_file.plan_unit_id)
        due_on = await self.session.scalar(
            select(cast(case_file.closed_at + func.make_interval(unit.retention_years or 0), Date))
        )
        return {
            "file_id": case_file.id,
            "file_number": case_file.file_number,
            "plan_code": unit.code,
            "closed_at": case_file.closed_at,
            "due_on": due_on,
            "archive_decision": unit.archive_decision,
        }

    # -- runs --------------------------------------------------------------------------------

    async def start_run(self, principal: Principal) -> tuple[DisposalRun, list[DisposalItem]]:
        require(principal, Permission.MANAGE_RETENTION)
        # One run at a time offers a file: serialise run starts.
        await self.session.execute(select(func.pg_advisory_xact_lock(0x0D15_0501)))
        rows = (
            await self.session.execute(
                select(CaseFile.id, PlanUnit.archive_decision)
                .join(PlanUnit, PlanUnit.id == CaseFile.plan_unit_id)
                .where(_due_clause(utc_now()))
                .order_by(CaseFile.closed_at, CaseFile.id)
                .limit(MAX_RUN_FILES)
            )
        ).all()
        if not rows:
            raise Conflict("No file is due for disposal.")
        run = DisposalRun(id=uuid.uuid4(), state=RunState.OFFERED, created_by=principal.sub)
        self.session.add(run)
        await self.session.flush()
        items = [
            DisposalItem(run_id=run.id, file_id=file_id, plan_decision=decision)
            for file_id, decision in rows
        ]
        self.session.add_all(items)
        await self.session.flush()
        for item in items:
            self.audit.record(
                principal, Action.FILE_OFFERED, file_id=item.file_id, detail={"run_id": str(run.id)}
            )
        return run, items

    async def run(
        self, principal: Principal, run_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[DisposalRun, list[DisposalItem]]:
        require(principal, Permission.MANAGE_RETENTION)
        statement = select(DisposalRun).where(DisposalRun.id == run_id)
        if for_update:
            statement = statement.with_for_update()
        run = (await self.session.execute(statement)).scalar_one_or_none()
        if run is None:
            raise NotFound("No such disposal run.")
        items = list(
            (
                await self.session.execute(
                    select(DisposalItem)
                    .where(DisposalItem.run_id == run_id)
                    .order_by(DisposalItem.file_id)
                )
            ).scalars()
        )
        return run, items

    async def _records(
        self, items: list[DisposalItem], *, with_documents: bool
    ) -> list[xdomea.FileRecord]:
        records = []
        for item in items:
            case_file = await self.session.get_one(CaseFile, item.file_id)
            unit = await self.session.get_one(PlanUnit, case_file.plan_unit_id)
            documents: list[tuple[str, str, str]] = []
            if with_documents:
                for document, version in await self._versions(case_file.id):
                    documents.append(
                        (str(document.id), document.title, self._package_path(case_file, version))
                    )
            records.append(
                xdomea.FileRecord(
                    file_id=str(case_file.id),
                    file_number=case_file.file_number,
                    title=case_file.title,
                    plan_code=unit.code,
                    plan_title=unit.title,
                    opened_at=case_file.opened_at,
                    closed_at=case_file.closed_at or case_file.opened_at,
                    decision=item.appraisal or item.plan_decision,
                    documents=documents,
                )
            )
        return records

    async def _versions(self, file_id: uuid.UUID) -> list[tuple[Document, DocumentVersion]]:
        result = await self.session.execute(
            select(Document, DocumentVersion)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)
            .where(Document.file_id == file_id)
            .order_by(Document.created_at, Document.id, DocumentVersion.version)
        )
        return [(row[0], row[1]) for row in result.all()]

    @staticmethod
    def _package_path(case_file: CaseFile, version: DocumentVersion) -> str:
        return (
            f"{_safe(case_file.file_number)}/{version.document_id}/"
            f"v{version.version}-{_safe(version.filename)}"
        )

    async def offer(self, principal: Principal, run_id: uuid.UUID) -> bytes:
        run, items = await self.run(principal, run_id)
        return xdomea.offer_0501(
            str(run.id), run.created_at, await self._records(items, with_documents=False)
        )

    async def appraise(
        self, principal: Principal, run_id: uuid.UUID, body: AppraisalSet
    ) -> tuple[DisposalRun, list[DisposalItem]]:
        run, items = await self.run(principal, run_id, for_update=True)
        if run.state != RunState.OFFERED:
            raise Conflict("This run was appraised already.")
        by_file = {item.file_id: item for item in items}
        unknown = [str(d.file_id) for d in body.decisions if d.file_id not in by_file]
        if unknown:
            raise InvalidInput("These files are not part of the run.", files=unknown)
        for decision in body.decisions:
            by_file[decision.file_id].appraisal = decision.decision
        for item in items:
            if item.appraisal is None and item.plan_decision in ("A", "V"):
                item.appraisal = item.plan_decision
        open_items = [str(item.file_id) for item in items if item.appraisal is None]
        if open_items:
            raise InvalidInput("Appraise every file marked B.", files=open_items)
        run.state = RunState.APPRAISED
        await self.session.flush()
        return run, items

    async def handover(self, principal: Principal, run_id: uuid.UUID, target: Path) -> None:
        """Write the 0503 package (ZIP: ``xdomea_0503.xml`` and the content) to ``target``."""
        run, items = await self.run(principal, run_id)
        if run.state != RunState.APPRAISED:
            raise Conflict(
                "The package exists once the run is appraised and until it is confirmed."
            )
        archived = [item for item in items if item.appraisal == "A"]
        records = await self._records(archived, with_documents=True)
        contents: list[tuple[DocumentVersion, str]] = []
        for item in archived:
            case_file = await self.session.get_one(CaseFile, item.file_id)
            for _, version in await self._versions(case_file.id):
                contents.append((version, self._package_path(case_file, version)))
        metadata = xdomea.handover_0503(str(run.id), utc_now(), records)
        await anyio.to_thread.run_sync(_write_package, target, metadata, self.store, contents)
        for item in archived:
            self.audit.record(
                principal,
                Action.FILE_HANDED_OVER,
                file_id=item.file_id,
                detail={"run_id": str(run_id)},
            )

    async def _version_counts(self, file_id: uuid.UUID) -> dict[uuid.UUID, int]:
        """Each document of the file with its number of versions (before they are deleted)."""
        rows = await self.session.execute(
            select(Document.id, func.count(DocumentVersion.id))
            .outerjoin(DocumentVersion, DocumentVersion.document_id == Document.id)
            .where(Document.file_id == file_id)
            .group_by(Document.id)
            .order_by(Document.id)
        )
        return dict(rows.all())

    async def _announce_disposal(
        self,
        run_id: uuid.UUID,
        case_file: CaseFile,
        outcome: str,
        versions: dict[uuid.UUID, int],
        now: datetime,
    ) -> None:
        """One ``document.deleted`` per document, ``file.handed_over`` for an archived file,
        then ``file.disposed``: in the same transaction as the deletion (outbox)."""
        for document_id, count in versions.items():
            await self.outbox.add(
                events.document_event(
                    events.DOCUMENT_DELETED,
                    document_id,
                    events.DocumentDeletedV1(
                        document_id=document_id,
                        file_id=case_file.id,
                        run_id=run_id,
                        reason=events.DeletionReason.DISPOSAL,
                        versions=count,
                        deleted_at=now,
                    ),
                )
            )
        if outcome == Outcome.ARCHIVED:
            await self.outbox.add(
                events.file_event(
                    events.FILE_HANDED_OVER,
                    case_file.id,
                    events.FileHandedOverV1(
                        file_id=case_file.id,
                        file_number=case_file.file_number,
                        run_id=run_id,
                        handed_over_at=now,
                    ),
                    subject=case_file.file_number,
                )
            )
        await self.outbox.add(
            events.file_event(
                events.FILE_DISPOSED,
                case_file.id,
                events.FileDisposedV1(
                    file_id=case_file.id,
                    file_number=case_file.file_number,
                    run_id=run_id,
                    outcome=events.DisposalOutcome(outcome),
                    documents=len(versions),
                    disposed_at=now,
                ),
                subject=case_file.file_number,
            )
        )

    async def confirm(self, principal: Principal, run_id: uuid.UUID) -> Disposed:
        """The archive confirmed the import (0506): dispose of every item not on hold."""
        run, items = await self.run(principal, run_id, for_update=True)
        if run.state != RunState.APPRAISED:
            raise Conflict("Only an appraised run can be confirmed.")
        now = utc_now()
        hashes: set[str] = set()
        for item in items:
            case_file = await self._file(item.file_id)
            if case_file.legal_hold is not None:
                item.outcome = Outcome.KEPT
                continue
            hashes |= set(
                (
                    await self.session.execute(
                        select(DocumentVersion.sha256)
                        .join(Document, Document.id == DocumentVersion.document_id)
                        .where(Document.file_id == case_file.id)
                    )
                ).scalars()
            )
            versions = await self._version_counts(case_file.id)
            await self.session.execute(delete(Document).where(Document.file_id == case_file.id))
            item.outcome = Outcome.ARCHIVED if item.appraisal == "A" else Outcome.DESTROYED
            case_file.disposed_at = now
            case_file.updated_at = now
            self.audit.record(
                principal,
                Action.FILE_DISPOSED,
                file_id=case_file.id,
                detail={
                    "run_id": str(run_id),
                    "outcome": item.outcome,
                    "documents": len(versions),
                },
            )
            await self._announce_disposal(run_id, case_file, item.outcome, versions, now)
        unused: list[str] = []
        if hashes:
            unused = list(
                (
                    await self.session.execute(
                        delete(Blob)
                        .where(
                            Blob.sha256.in_(hashes),
                            ~exists().where(DocumentVersion.sha256 == Blob.sha256),
                        )
                        .returning(Blob.sha256)
                    )
                ).scalars()
            )
        run.state = RunState.COMPLETED
        run.completed_at = now
        await self.session.flush()
        return Disposed(run, items, unused)
