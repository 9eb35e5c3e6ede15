"""social map: anonymous counts of help offers and requests per district and day

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "social_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("district", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count BETWEEN 1 AND 1000", name=op.f("ck_social_records_count_range")),
        sa.CheckConstraint(
            "kind IN ('offer', 'request')", name=op.f("ck_social_records_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_records")),
    )
    op.create_index("ix_social_records_day", "social_records", ["day", "district"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_social_records_day", table_name="social_records")
    op.drop_table("social_records")
