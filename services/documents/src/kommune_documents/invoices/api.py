"""E-invoice endpoints (``/api/v1/invoices``): the raw XML in, business terms out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.pagination import Page, PageParams
from kommune.routing import service_router
from kommune_documents.access import Permission, requires
from kommune_documents.documents.backends import content_store
from kommune_documents.documents.upload import UnsupportedMediaType
from kommune_documents.invoices.models import Invoice
from kommune_documents.invoices.schemas import FindingOut, InvoiceOut, StepTaken
from kommune_documents.invoices.service import InvoiceService
from kommune_documents.invoices.validation import Finding
from kommune_documents.settings import DocumentsSettings

MaySubmit = Annotated[Principal, Depends(requires(Permission.SUBMIT_INVOICES))]
"""Records managers, admins and the e-invoice inbox's service account (``invoice_inbox``)."""
MayHandle = Annotated[Principal, Depends(requires(Permission.RECEIVE_INVOICES))]
"""Reading invoices and the approval workflow: records managers and admins only."""

router = service_router("/api/v1/invoices", tags=["invoices"])

XML_TYPES = frozenset({"application/xml", "text/xml"})


def _service(request: Request, session: DbSession) -> InvoiceService:
    settings: DocumentsSettings = request.state.settings
    return InvoiceService(session, content_store(request), settings)


Invoices = Annotated[InvoiceService, Depends(_service)]


def _out(invoice: Invoice, warnings: list[Finding] = ()) -> InvoiceOut:  # type: ignore[assignment]
    return InvoiceOut.model_validate(
        {
            **{
                name: getattr(invoice, name)
                for name in InvoiceOut.model_fields
                if name not in ("possible_duplicate", "warnings")
            },
            "possible_duplicate": invoice.possible_duplicate_of is not None,
            "warnings": [FindingOut.model_validate(w, from_attributes=True) for w in warnings],
        }
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Receive an e-invoice (XRechnung UBL or CII, the raw XML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
    responses={200: {"description": "The same bytes were received before: that invoice."}},
)
async def receive_invoice(
    request: Request, response: Response, invoices: Invoices, principal: MaySubmit
) -> InvoiceOut:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in XML_TYPES:
        raise UnsupportedMediaType("Send the invoice as application/xml.")
    data = await request.body()
    invoice, created, warnings = await invoices.receive(principal, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(invoice, warnings)


@router.get("", summary="Received invoices, newest first")
async def list_invoices(
    invoices: Invoices, principal: MayHandle, page: PageParams
) -> Page[InvoiceOut]:
    items, next_cursor = await invoices.browse(principal, page)
    return Page(items=[_out(i) for i in items], next_cursor=next_cursor)


@router.get("/{invoice_id}", summary="One invoice with its business terms and status")
async def get_invoice(
    invoice_id: uuid.UUID, invoices: Invoices, principal: MayHandle
) -> InvoiceOut:
    return _out(await invoices.get(principal, invoice_id))


@router.post(
    "/{invoice_id}/status",
    summary="Take the next approval step (factual check, arithmetic check, release, export)",
)
async def take_step(
    invoice_id: uuid.UUID, body: StepTaken, invoices: Invoices, principal: MayHandle
) -> InvoiceOut:
    return _out(await invoices.take_step(principal, invoice_id, body.status))
