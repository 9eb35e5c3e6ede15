"""The gateway's own tables (database ``gateway``): idempotency records, rate-limit counters,
the activity log and its consumer's inbox.

Declared here for the migrations (``gateway/migrations``); the hot path queries them with plain
asyncpg statements (:mod:`kommune_gateway.idempotency`, :mod:`kommune_gateway.ratelimit`); the
activity feed (:mod:`kommune_gateway.activity`) with SQLAlchemy Core.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

from kommune.db import new_metadata
from kommune.events.inbox import InboxMessage

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

activity = sa.Table(
    "activity",
    metadata,
    # Monotonic in commit order (the writers serialise on an advisory lock): the SSE event id.
    sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    # What the feed shows: the event's fields minus anything that identifies a person.
    sa.Column("data", JSONB, nullable=False),
    # Cases: the responsible department's code (its caseworkers see the case).
    sa.Column("department", sa.Text),
    # Cases: the applicant's OIDC subject (only they see it); never part of a response.
    sa.Column("owner_sub", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("kind IN ('idea', 'alert', 'case')", name="kind"),
    sa.Index("ix_activity_kind_position", "kind", "position"),
    sa.Index("ix_activity_owner_sub_position", "owner_sub", "position"),
    sa.Index("ix_activity_department_position", "department", "position"),
    sa.Index("ix_activity_recorded_at", "recorded_at"),
)

inbox = sa.Table.to_metadata(InboxMessage.__table__, metadata)  # type: ignore[arg-type]
"""The activity consumer's inbox (``kommune.events.inbox``): one row per event handled."""
