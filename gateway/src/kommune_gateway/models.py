"""The gateway's own tables (database ``gateway``): idempotency records and rate-limit counters.

Declared here for the migrations (``gateway/migrations``); the hot path queries them with plain
asyncpg statements (:mod:`kommune_gateway.idempotency`, :mod:`kommune_gateway.ratelimit`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

from kommune.db import new_metadata

metadata = new_metadata()

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("fingerprint", BYTEA),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("headers", JSONB),
    sa.Column("body", BYTEA),
    sa.CheckConstraint("state IN ('in_flight', 'completed')", name="state"),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

rate_limit_counters = sa.Table(
    "rate_limit_counters",
    metadata,
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("window_index", sa.BigInteger, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_rate_limit_counters_expires_at", "expires_at"),
    # Counters are cheap to lose (a crash forgets at most one window): no WAL for them.
    prefixes=["UNLOGGED"],
)
