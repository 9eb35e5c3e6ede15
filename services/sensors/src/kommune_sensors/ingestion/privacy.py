"""Privacy by design: a batch that carries anything that looks like an identifier is refused.

WLAN and camera counters deliver counts. A MAC address (hashed or not: regulators treat both
as personal data), a device id (IMEI, advertising id, Android id, a UUID, a long hex digest)
or a number plate must never reach storage, Kafka or a log line. The scan walks every key and
every value of every row, ``parameters`` included, before anything else looks at the batch.
It reports only *where* (row index) and *what kind*, never the value, so the refusal itself
carries nothing.

The patterns are deliberately wide: a long hex run is refused even if it was meant as
something harmless. Numbers belong in JSON numbers, and names in the registry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Identifier(StrEnum):
    MAC_ADDRESS = "mac_address"
    DEVICE_ID = "device_id"
    NUMBER_PLATE = "number_plate"
    IDENTIFYING_FIELD = "identifying_field"
    """A key whose name says it holds an identifier (``mac``, ``imei``, ``license_plate``...)."""


_PATTERNS: tuple[tuple[Identifier, re.Pattern[str]], ...] = (
    (
        Identifier.MAC_ADDRESS,
        re.compile(
            r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
            r"|(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}(?![0-9A-Fa-f])"
        ),
    ),
    (
        Identifier.DEVICE_ID,
        re.compile(
            # UUIDs (advertising ids, app instance ids), IMEI/IMSI (14-16 digits), and any run
            # of 12+ hex digits: a MAC without separators, an Android id, an MD5/SHA digest.
            r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
            r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{12,}(?![0-9A-Fa-f])"
        ),
    ),
    (
        Identifier.NUMBER_PLATE,
        # German plates ("HDH-AB 123", "HDH AB 1234E", "S-XY 12"): district code, letters,
        # digits, with at least one separator so that "CO2" or "PM10" do not count.
        re.compile(
            r"(?<![A-Za-zÄÖÜäöü0-9])[A-ZÄÖÜ]{1,3}(?:[- ][A-Z]{1,2}[- ]?|[A-Z]{1,2}[- ])"
            r"[1-9][0-9]{0,3}[EH]?(?![A-Za-z0-9])"
        ),
    ),
)

_IDENTIFYING_KEY = re.compile(
    r"mac|imei|imsi|idfa|gaid|bssid|serial|plate|kennzeichen|licen[cs]e|device_?id|deviceid"
    r"|android_?id|advertising|uuid|msisdn|phone|ip_?addr",
    re.IGNORECASE,
)
_LONG_NUMBER = 10**11
"""Integers this long (12+ digits) look like an IMEI or a MAC as a number."""


@functools.lru_cache(maxsize=1024)
def _identifying_key(key: str) -> bool:
    return _IDENTIFYING_KEY.search(key) is not None


@dataclass(frozen=True, slots=True)
class Finding:
    index: int
    kind: Identifier

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": str(self.kind)}


_ANY = re.compile("|".join(f"(?P<{kind.name}>{pattern.pattern})" for kind, pattern in _PATTERNS))
"""All patterns in one pass; the named group that matched says the kind."""
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)")
"""A whole string of this shape is a timestamp and cannot hold an identifier."""


@functools.lru_cache(maxsize=4096)
def _classify_short(text: str) -> Identifier | None:
    match = _ANY.search(text)
    return None if match is None else Identifier[str(match.lastgroup)]


def classify_text(text: str) -> Identifier | None:
    """The kind of identifier ``text`` contains, if any. Short strings (keys, directions, lane
    names) repeat in every row of a batch and are remembered; timestamps are recognised whole."""
    if len(text) <= 40:
        if _TIMESTAMP.fullmatch(text):
            return None
        return _classify_short(text)
    match = _ANY.search(text)
    return None if match is None else Identifier[str(match.lastgroup)]


def _walk(value: Any) -> Iterator[Identifier]:
    """Every identifier found in a JSON value (iterative: no recursion limit to hit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            kind = classify_text(item)
            if kind is not None:
                yield kind
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if abs(item) >= _LONG_NUMBER:
                yield Identifier.DEVICE_ID
        elif isinstance(item, dict):
            for key, child in item.items():
                if _identifying_key(key):
                    yield Identifier.IDENTIFYING_FIELD
                kind = classify_text(key)
                if kind is not None:
                    yield kind
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def scan_row(row: Any) -> Identifier | None:
    """The first identifier in one row, or ``None``. The row's own ``datastream`` id and
    ``result`` are numbers the filter leaves alone (a count may be large)."""
    if not isinstance(row, dict):
        return next(_walk(row), None)
    for key, value in row.items():
        if _identifying_key(key) or classify_text(key) is not None:
            return Identifier.IDENTIFYING_FIELD
        if key in ("datastream", "result") and not isinstance(value, str | dict | list):
            continue
        kind = classify_text(value) if isinstance(value, str) else next(_walk(value), None)
        if kind is not None:
            return kind
    return None


def scan_batch(rows: list[Any]) -> list[Finding]:
    """Every row of ``rows`` that carries an identifier (index and kind only)."""
    findings = []
    for index, row in enumerate(rows):
        kind = scan_row(row)
        if kind is not None:
            findings.append(Finding(index, kind))
    return findings
