"""Search GIN indexes without a pending list (fastupdate off).

With the default ``fastupdate = on``, new entries wait in a pending list until the next vacuum;
the planner prices that list in and, after a bulk import, chose a sequential scan for searches
(100 ms instead of 5 ms on 10,000 ideas, see bench/bench_ideas_queries.py). Ideas are written
rarely and searched often, so every write goes straight into the index instead.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_ideas_search_vector", "ix_ideas_search_text_trgm")


def upgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
