"""E-invoice rules: validate completely, file the XML, start the approval workflow.

The same bytes again are the same invoice (200, nothing new). Another XML with the seller and
invoice number of an earlier one is filed as well, flagged ``possible_duplicate`` with a
reference to the earlier invoice: never silently dropped. Invoices are filed as documents in the
treasury's invoice file of the year (plan unit ``DOCUMENTS_INVOICE_PLAN_CODE``), created on the
first invoice of a year. The workflow steps go strictly in order, each audited and evented.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict, InvalidInput, NotFound
from kommune.events.outbox import Outbox
from kommune.pagination import Ordering, PageRequest, SortKey, paginate
from kommune_documents import events
from kommune_documents.access import Confidentiality, Permission, require
from kommune_documents.audit.service import Action, AuditTrail
from kommune_documents.documents.models import Document, DocumentVersion
from kommune_documents.documents.repository import DocumentRepository
from kommune_documents.documents.storage import ContentStore
from kommune_documents.fileplan.repository import PlanUnitRepository
from kommune_documents.files.models import CaseFile
from kommune_documents.files.service import FileService
from kommune_documents.invoices.models import WORKFLOW, Invoice, InvoiceStatus
from kommune_documents.invoices.validation import Finding, NotAnInvoiceError, validate
from kommune_documents.settings import DocumentsSettings

BERLIN = ZoneInfo("Europe/Berlin")
ACTOR_FILE = "system:invoice-inbox"
NEWEST_FIRST = Ordering(
    "created", (SortKey(Invoice.created_at, "datetime"), SortKey(Invoice.id, "uuid"))
)


def _amount(terms: dict[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    value = terms.get(key)
    if value in (None, ""):
        if required:
            raise InvalidInput(f"The invoice has no {key}.")
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as error:
        raise InvalidInput(f"{key} is not an amount.") from error


def _seller_key(name: str, vat_id: str | None) -> str:
    raw = vat_id or name
    return re.sub(r"\s+", "", raw).casefold()[:500]


class InvoiceService:
    def __init__(
        self, session: AsyncSession, store: ContentStore, settings: DocumentsSettings
    ) -> None:
        self.session = session
        self.store = store
        self.settings = settings
        self.audit = AuditTrail(session)
        self.outbox = Outbox(session, events.SOURCE)

    async def receive(
        self, principal: Principal, data: bytes
    ) -> tuple[Invoice, bool, list[Finding]]:
        """``(invoice, created, warnings)``; ``created`` is ``False`` for the same bytes again."""
        require(principal, Permission.SUBMIT_INVOICES)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = await self._by_sha(sha256)
        if existing is not None:
            return existing, False, []
        try:
            report = await anyio.to_thread.run_sync(validate, data)
        except NotAnInvoiceError as error:
            raise InvalidInput(str(error)) from error
        if report.errors:
            raise InvalidInput(
                f"The invoice breaks {len(report.errors)} rule(s).",
                errors=[
                    {"rule": f.rule, "flag": f.flag, "message": f.message} for f in report.errors
                ],
            )
        terms = report.terms
        seller: dict[str, Any] = terms.get("BG-4") or {}
        seller_name = str(seller.get("name") or "").strip()[:500] or "(unbekannt)"
        seller_vat = str(seller.get("vat_identifier") or "").strip() or None
        invoice_number = str(terms.get("BT-1") or "").strip()[:200]
        if not invoice_number:
            raise InvalidInput("The invoice has no number (BT-1).")
        seller_key = _seller_key(seller_name, seller_vat)
        # One receiver at a time per seller and number: the duplicate check is then exact.
        await self.session.execute(
            select(func.pg_advisory_xact_lock(_lock(f"invoice:{seller_key}:{invoice_number}")))
        )
        existing = await self._by_sha(sha256)
        if existing is not None:
            return existing, False, []
        earlier = (
            await self.session.execute(
                select(Invoice.id)
                .where(Invoice.seller_key == seller_key, Invoice.invoice_number == invoice_number)
                .order_by(Invoice.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
        case_file = await self._invoice_file()
        document = await self._file_xml(case_file, data, sha256, invoice_number, seller_name)
        now = utc_now()
        invoice = Invoice(
            id=uuid.uuid4(),
            sha256=sha256,
            document_id=document.id,
            file_id=case_file.id,
            syntax=report.syntax,
            invoice_number=invoice_number,
            type_code=str(terms.get("BT-3") or "380")[:10],
            issue_date=terms["BT-2"],
            due_date=terms.get("BT-9") or None,
            currency=str(terms.get("BT-5") or "EUR")[:3],
            seller_name=seller_name,
            seller_vat_id=seller_vat[:100] if seller_vat else None,
            seller_key=seller_key,
            buyer_reference=str(terms.get("BT-10") or "")[:200] or None,
            total_net=_amount(terms, "BT-109"),
            total_tax=_amount(terms, "BT-110", required=False),
            total_gross=_amount(terms, "BT-112"),
            amount_due=_amount(terms, "BT-115"),
            status=InvoiceStatus.RECEIVED,
            possible_duplicate_of=earlier,
            received_by=principal.sub,
            created_at=now,
            updated_at=now,
        )
        self.session.add(invoice)
        await self.session.flush()
        self.audit.record(
            principal,
            Action.INVOICE_RECEIVED,
            file_id=case_file.id,
            document_id=document.id,
            detail={
                "invoice_id": str(invoice.id),
                "invoice_number": invoice_number,
                "possible_duplicate_of": str(earlier) if earlier else None,
            },
        )
        await self.outbox.add(
            events.invoice_event(
                events.INVOICE_RECEIVED,
                invoice.id,
                events.InvoiceReceivedV1(
                    invoice_id=invoice.id,
                    file_id=case_file.id,
                    document_id=document.id,
                    invoice_number=invoice_number,
                    syntax=events.Syntax(report.syntax),
                    possible_duplicate_of=earlier,
                    received_at=now,
                ),
            )
        )
        return invoice, True, report.warnings

    async def _by_sha(self, sha256: str) -> Invoice | None:
        result = await self.session.execute(select(Invoice).where(Invoice.sha256 == sha256))
        return result.scalar_one_or_none()

    async def _invoice_file(self) -> CaseFile:
        files = FileService(self.session)
        year = utc_now().astimezone(BERLIN).year
        key = f"invoices:{self.settings.invoice_department}:{year}"
        await self.session.execute(select(func.pg_advisory_xact_lock(_lock(key))))
        case_file = await files.files.by_source_key(key, for_update=True)
        if case_file is not None and case_file.status == "open":
            return case_file
        if case_file is not None:
            case_file.source_key = None
            await self.session.flush()
        plan_unit = await PlanUnitRepository(self.session).by_code(self.settings.invoice_plan_code)
        if plan_unit is None:
            raise Conflict(
                f"The plan unit {self.settings.invoice_plan_code} for invoices is missing."
            )
        return await files.open_file(
            plan_unit,
            title=f"Eingangsrechnungen {year}",
            department=self.settings.invoice_department,
            confidentiality=Confidentiality.NORMAL,
            created_by=ACTOR_FILE,
            source_key=key,
        )

    async def _file_xml(
        self, case_file: CaseFile, data: bytes, sha256: str, number: str, seller: str
    ) -> Document:
        staged = self.store.stage(len(data))
        try:
            staged.feed(data)
            await staged.finish()
            await self.store.publish(staged)
        finally:
            staged.discard()
        repository = DocumentRepository(self.session)
        await repository.add_blob(sha256, len(data), "application/xml")
        now = utc_now()
        document = await repository.add(
            Document(
                file_id=case_file.id,
                title=f"Rechnung {number}, {seller}"[:200],
                current_version=1,
                content_text=f"Rechnung {number} {seller}",
                created_by=ACTOR_FILE,
                created_at=now,
                updated_at=now,
            )
        )
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", number)[:200] + ".xml"
        self.session.add(
            DocumentVersion(
                document_id=document.id,
                version=1,
                sha256=sha256,
                filename=filename,
                media_type="application/xml",
                size=len(data),
                created_by=ACTOR_FILE,
                created_at=now,
            )
        )
        await self.session.flush()
        return document

    async def get(self, principal: Principal, invoice_id: uuid.UUID) -> Invoice:
        require(principal, Permission.RECEIVE_INVOICES)
        invoice = await self.session.get(Invoice, invoice_id)
        if invoice is None:
            raise NotFound("No such invoice.")
        return invoice

    async def browse(
        self, principal: Principal, page: PageRequest
    ) -> tuple[list[Invoice], str | None]:
        require(principal, Permission.RECEIVE_INVOICES)
        return await paginate(self.session, select(Invoice), NEWEST_FIRST, page)

    async def take_step(
        self, principal: Principal, invoice_id: uuid.UUID, to_status: InvoiceStatus
    ) -> Invoice:
        require(principal, Permission.RECEIVE_INVOICES)
        invoice = (
            await self.session.execute(
                select(Invoice).where(Invoice.id == invoice_id).with_for_update()
            )
        ).scalar_one_or_none()
        if invoice is None:
            raise NotFound("No such invoice.")
        current = InvoiceStatus(invoice.status)
        position = WORKFLOW.index(current)
        expected = WORKFLOW[position + 1] if position + 1 < len(WORKFLOW) else None
        if to_status != expected:
            raise Conflict(
                f"From {current} the next step is {expected or 'none: the invoice is exported'}."
            )
        now = utc_now()
        invoice.status = to_status
        invoice.updated_at = now
        await self.session.flush()
        self.audit.record(
            principal,
            Action.INVOICE_STEP,
            file_id=invoice.file_id,
            document_id=invoice.document_id,
            detail={"invoice_id": str(invoice.id), "from": current, "to": to_status},
        )
        await self.outbox.add(
            events.invoice_event(
                events.INVOICE_STATUS_CHANGED,
                invoice.id,
                events.InvoiceStatusChangedV1(
                    invoice_id=invoice.id,
                    file_id=invoice.file_id,
                    document_id=invoice.document_id,
                    invoice_number=invoice.invoice_number,
                    from_status=events.InvoiceStatus(current),
                    to_status=events.InvoiceStatus(to_status),
                    changed_by=principal.sub,
                    changed_at=now,
                ),
            )
        )
        return invoice


def _lock(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
