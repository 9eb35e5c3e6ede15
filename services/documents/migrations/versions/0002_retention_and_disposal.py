"""Retention and disposal: legal holds, tombstones, disposal runs and their items.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:56:30.098760+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disposal_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('offered', 'appraised', 'completed')", name=op.f("ck_disposal_runs_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_runs")),
    )
    op.create_table(
        "disposal_items",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("plan_decision", sa.String(length=1), nullable=False),
        sa.Column("appraisal", sa.String(length=1), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.CheckConstraint(
            "appraisal IS NULL OR appraisal IN ('A', 'V')", name=op.f("ck_disposal_items_appraisal")
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('archived', 'destroyed', 'kept')",
            name=op.f("ck_disposal_items_outcome"),
        ),
        sa.CheckConstraint(
            "plan_decision IN ('A', 'B', 'V')", name=op.f("ck_disposal_items_plan_decision")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["case_files.id"],
            name=op.f("fk_disposal_items_file_id_case_files"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["disposal_runs.id"],
            name=op.f("fk_disposal_items_run_id_disposal_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "file_id", name=op.f("pk_disposal_items")),
    )
    op.create_index("ix_disposal_items_file", "disposal_items", ["file_id"], unique=False)
    op.add_column("case_files", sa.Column("legal_hold", sa.String(length=500), nullable=True))
    op.add_column("case_files", sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("case_files", "disposed_at")
    op.drop_column("case_files", "legal_hold")
    op.drop_index("ix_disposal_items_file", table_name="disposal_items")
    op.drop_table("disposal_items")
    op.drop_table("disposal_runs")
