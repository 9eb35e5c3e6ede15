"""The service's notion of "now": aware UTC timestamps (stored as ``timestamptz``)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
