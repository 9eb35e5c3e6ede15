"""E-mail attachments: a document may have a parent (the e-mail it came with).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:18:25.745288+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_documents_parent_id"), "documents", ["parent_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_documents_parent_id_documents"),
        "documents",
        "documents",
        ["parent_id"],
        ["id"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_documents_parent_id_documents"), "documents", type_="foreignkey")
    op.drop_index(op.f("ix_documents_parent_id"), table_name="documents")
    op.drop_column("documents", "parent_id")
