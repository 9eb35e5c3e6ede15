"""The platform's notion of "now": aware UTC timestamps (stored as ``timestamptz``).

One function so that every service stamps rows the same way; local rules (opening hours,
night hours) convert to Europe/Berlin where they are decided, never in storage.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
