"""Incoming e-invoices: business terms, the filed document, the approval step."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from kommune.clock import utc_now
from kommune_documents.base import Base


class InvoiceStatus(StrEnum):
    RECEIVED = "received"
    FACTUALLY_CHECKED = "factually_checked"
    """sachlich richtig"""
    ARITHMETICALLY_CHECKED = "arithmetically_checked"
    """rechnerisch richtig"""
    RELEASED = "released"
    """zur Zahlung freigegeben"""
    EXPORTED = "exported"
    """an die Stadtkasse übergeben"""


WORKFLOW: tuple[InvoiceStatus, ...] = tuple(InvoiceStatus)
"""The only order the steps are taken in."""


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(
            "status IN ('received', 'factually_checked', 'arithmetically_checked', 'released',"
            " 'exported')",
            name="status",
        ),
        CheckConstraint("syntax IN ('ubl', 'cii')", name="syntax"),
        Index("ix_invoices_seller_number", "seller_key", "invoice_number"),
        Index("ix_invoices_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    """Of the XML as received: the same bytes again are the same invoice."""
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id", ondelete="RESTRICT"))
    syntax: Mapped[str] = mapped_column(String(3))
    invoice_number: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(10))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    seller_name: Mapped[str] = mapped_column(String(500))
    seller_vat_id: Mapped[str | None] = mapped_column(String(100))
    seller_key: Mapped[str] = mapped_column(String(500))
    """VAT id, else the name, normalised: what "the same seller" means for duplicates."""
    buyer_reference: Mapped[str | None] = mapped_column(String(200))
    """BT-10, the Leitweg-ID for German public buyers."""
    total_net: Mapped[Decimal] = mapped_column(Numeric(19, 2))
    total_tax: Mapped[Decimal | None] = mapped_column(Numeric(19, 2))
    total_gross: Mapped[Decimal] = mapped_column(Numeric(19, 2))
    amount_due: Mapped[Decimal] = mapped_column(Numeric(19, 2))
    status: Mapped[str] = mapped_column(String(30), default=InvoiceStatus.RECEIVED)
    possible_duplicate_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    received_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
