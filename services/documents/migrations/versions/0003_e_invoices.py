"""E-invoices: business terms, filed document, approval status, possible duplicates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:07:41.290896+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("syntax", sa.String(length=3), nullable=False),
        sa.Column("invoice_number", sa.String(length=200), nullable=False),
        sa.Column("type_code", sa.String(length=10), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seller_name", sa.String(length=500), nullable=False),
        sa.Column("seller_vat_id", sa.String(length=100), nullable=True),
        sa.Column("seller_key", sa.String(length=500), nullable=False),
        sa.Column("buyer_reference", sa.String(length=200), nullable=True),
        sa.Column("total_net", sa.Numeric(precision=19, scale=2), nullable=False),
        sa.Column("total_tax", sa.Numeric(precision=19, scale=2), nullable=True),
        sa.Column("total_gross", sa.Numeric(precision=19, scale=2), nullable=False),
        sa.Column("amount_due", sa.Numeric(precision=19, scale=2), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("possible_duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("received_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('received', 'factually_checked', 'arithmetically_checked', 'released',"
            " 'exported')",
            name=op.f("ck_invoices_status"),
        ),
        sa.CheckConstraint("syntax IN ('ubl', 'cii')", name=op.f("ck_invoices_syntax")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_invoices_document_id_documents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["case_files.id"],
            name=op.f("fk_invoices_file_id_case_files"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("sha256", name=op.f("uq_invoices_sha256")),
    )
    op.create_index("ix_invoices_created", "invoices", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_invoices_seller_number", "invoices", ["seller_key", "invoice_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_seller_number", table_name="invoices")
    op.drop_index("ix_invoices_created", table_name="invoices")
    op.drop_table("invoices")
