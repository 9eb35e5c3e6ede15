"""The activity feed: the log of the services' events the gateway serves, and its inbox.

Revision ID: 0002_gateway_activity_feed
Revises: 0001
Create Date: 2026-11-29 13:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002_gateway_activity_feed"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("position", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("data", JSONB(), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("owner_sub", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('idea', 'alert', 'case')", name=op.f("ck_activity_kind")),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_activity")),
        sa.UniqueConstraint("event_id", name=op.f("uq_activity_event_id")),
    )
    op.create_index("ix_activity_kind_position", "activity", ["kind", "position"])
    op.create_index("ix_activity_owner_sub_position", "activity", ["owner_sub", "position"])
    op.create_index("ix_activity_department_position", "activity", ["department", "position"])
    op.create_index("ix_activity_recorded_at", "activity", ["recorded_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=True),
        sa.Column("partition", sa.Integer(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name=op.f("pk_inbox")),
    )
    op.create_index(op.f("ix_inbox_received_at"), "inbox", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_received_at"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_index("ix_activity_recorded_at", table_name="activity")
    op.drop_index("ix_activity_department_position", table_name="activity")
    op.drop_index("ix_activity_owner_sub_position", table_name="activity")
    op.drop_index("ix_activity_kind_position", table_name="activity")
    op.drop_table("activity")
