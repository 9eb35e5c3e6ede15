"""schoolyard_watch: how far each schoolyard datastream was evaluated for night activity

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:00:00+00:00
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
        "schoolyard_watch",
        sa.Column("datastream_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_length", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["datastream_id"], ["datastreams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("datastream_id"),
    )


def downgrade() -> None:
    op.drop_table("schoolyard_watch")
