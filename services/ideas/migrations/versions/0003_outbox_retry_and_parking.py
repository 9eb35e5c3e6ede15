"""Outbox rows that fail are retried with backoff and parked after too many attempts.

``next_attempt_at``: a failed row is not tried again before this time (exponential backoff),
so one unsendable row does not slow every batch. ``parked_at``: set after
``<PREFIX>_OUTBOX_PARK_AFTER_ATTEMPTS`` failures; the row is kept, its aggregate's later rows
wait, every other aggregate flows, and an operator re-drives it
(``python -m kommune.events.admin outbox redrive``). ``ix_outbox_failing`` serves the relay's
"is an earlier row of this aggregate failing?" probe (usually empty).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_outbox_failing",
        "outbox",
        ["aggregateid", "seq"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL AND attempts > 0"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_failing",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL AND attempts > 0"),
    )
    op.drop_column("outbox", "parked_at")
    op.drop_column("outbox", "next_attempt_at")
