"""The JSON Schema ``format`` checks used for event payloads and headers.

jsonschema checks ``date-time``, ``time`` and ``uri`` only when optional packages are installed; the
platform does not depend on them, so the formats its contracts use are checked here, strictly:
``date-time`` is RFC 3339 *with* an offset (``Z`` or ``+01:00``), as the platform sends timestamps.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from urllib.parse import urlsplit

from jsonschema import FormatChecker

RFC3339_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
RFC3339_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_NO_SPACE = re.compile(r"^\S*$")


def is_rfc3339_date_time(value: str) -> bool:
    """``2026-03-01T09:30:00+01:00`` or ``...Z``; no naive times, no space separator."""
    if not RFC3339_DATE_TIME.match(value):
        return False
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _date_time(instance: object) -> bool:
    return not isinstance(instance, str) or is_rfc3339_date_time(instance)


def _time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not RFC3339_TIME.match(instance):
        return False
    time.fromisoformat(instance.upper().replace("Z", "+00:00"))
    return True


def _date(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", instance):
        return False
    date.fromisoformat(instance)
    return True


def _uri(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _NO_SPACE.match(instance):
        return False
    parts = urlsplit(instance)
    return bool(parts.scheme and _URI_SCHEME.match(parts.scheme) and (parts.netloc or parts.path))


def _uri_reference(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _NO_SPACE.match(instance):
        return False
    urlsplit(instance)
    return True


def format_checker() -> FormatChecker:
    """jsonschema's built-in checks (uuid, email, date, ipv4, ...) plus the ones above."""
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_date_time)
    checker.checks("time", raises=ValueError)(_time)
    checker.checks("date", raises=ValueError)(_date)
    checker.checks("uri", raises=ValueError)(_uri)
    checker.checks("uri-reference", raises=ValueError)(_uri_reference)
    return checker


FORMAT_CHECKER = format_checker()
