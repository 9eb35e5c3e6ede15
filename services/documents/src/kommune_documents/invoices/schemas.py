"""E-invoice request/response models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from kommune.schemas import InputModel, OutputModel
from kommune_documents.invoices.models import InvoiceStatus


class FindingOut(OutputModel):
    rule: str
    flag: str
    message: str


class InvoiceOut(OutputModel):
    id: uuid.UUID
    file_id: uuid.UUID
    document_id: uuid.UUID
    sha256: str
    syntax: str
    invoice_number: str
    type_code: str
    issue_date: date
    due_date: date | None
    currency: str
    seller_name: str
    seller_vat_id: str | None
    buyer_reference: str | None
    total_net: Decimal
    total_tax: Decimal | None
    total_gross: Decimal
    amount_due: Decimal
    status: InvoiceStatus
    possible_duplicate: bool
    possible_duplicate_of: uuid.UUID | None
    received_by: str
    created_at: datetime
    updated_at: datetime
    warnings: list[FindingOut] = []


class StepTaken(InputModel):
    status: InvoiceStatus
    """The next status (the steps go in order: factually_checked, arithmetically_checked,
    released, exported)."""
