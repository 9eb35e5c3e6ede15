"""Per-row validation of an ingestion batch: bad rows are reported by index, good rows go on.

Hand-written rather than a pydantic model per row on purpose: a batch of 10,000 rows must not
fail as a whole for one bad row (which is what a ``list[Model]`` body does), and the check must
cost microseconds per row. The rules are few and listed in :func:`check_row`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kommune_sensors.devices.models import DatastreamKind

ROW_FIELDS = frozenset({"datastream", "phenomenonTime", "result", "parameters"})
REQUIRED_FIELDS = ("datastream", "phenomenonTime", "result")
MAX_ID = 2**63 - 1
MAX_TIME_LENGTH = 40
MAX_PARAMETERS = 20
MAX_KEY_LENGTH = 50
MAX_VALUE_LENGTH = 100


@dataclass(frozen=True, slots=True)
class StreamInfo:
    kind: DatastreamKind
    writable: bool
    """Whether the caller may write to it (a device: only its own datastreams)."""


@dataclass(frozen=True, slots=True)
class Reading:
    datastream_id: int
    phenomenon_time: datetime
    result: float
    parameters: dict[str, Any] | None
    time_text: str
    """``phenomenon_time`` as sent (RFC 3339, checked): passed on without formatting it again."""
    parameters_size: int = 0
    """Bytes of the parameters as compact JSON (the producer cuts records by size)."""


@dataclass(slots=True)
class BatchCheck:
    readings: list[Reading] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, field_name: str | None, message: str) -> None:
        self.errors.append({"index": index, "field": field_name, "message": message})


def requested_datastreams(rows: list[Any]) -> set[int]:
    """The datastream ids a batch names (to look their kind and owner up in one query)."""
    return {
        row["datastream"]
        for row in rows
        if isinstance(row, dict)
        and type(row.get("datastream")) is int
        and 1 <= row["datastream"] <= MAX_ID
    }


def parse_time(value: Any) -> datetime | str:
    """An aware datetime, or why not."""
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH:
        return "must be an RFC 3339 timestamp with an offset"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "must be an RFC 3339 timestamp with an offset"
    if parsed.tzinfo is None:
        return "needs a UTC offset (e.g. Z or +01:00)"
    return parsed


def check_result(kind: DatastreamKind, value: Any) -> str | None:
    if type(value) not in (int, float) or not math.isfinite(value):
        return "must be a finite number"
    if kind is DatastreamKind.FILL_LEVEL and not 0 <= value <= 100:
        return "a fill level is between 0 and 100 (percent)"
    if kind is DatastreamKind.COUNT and (value < 0 or value != int(value)):
        return "a count is a whole number >= 0"
    return None


def check_parameters(value: Any) -> str | int | None:
    """The approximate JSON size of valid parameters, ``None`` when absent, else the reason.

    Flat on purpose (what a counter needs: direction, lane, vehicle class): at most
    :data:`MAX_PARAMETERS` entries, keys up to :data:`MAX_KEY_LENGTH` characters, values a string
    up to :data:`MAX_VALUE_LENGTH` characters, a finite number, a boolean or null. Checked
    without serialising (that was the most expensive step per row).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        return "must be an object"
    if len(value) > MAX_PARAMETERS:
        return f"at most {MAX_PARAMETERS} parameters"
    size = 2
    for key, item in value.items():
        if not 0 < len(key) <= MAX_KEY_LENGTH or "\x00" in key:
            return f"names have 1 to {MAX_KEY_LENGTH} characters (no NUL)"
        if isinstance(item, str):
            if len(item) > MAX_VALUE_LENGTH or "\x00" in item:
                return f"text values have at most {MAX_VALUE_LENGTH} characters (no NUL)"
            size += len(key) + len(item) + 6
        elif item is None or isinstance(item, bool | int):
            size += len(key) + 12
        elif isinstance(item, float) and math.isfinite(item):
            size += len(key) + 28
        else:
            return "values are text, numbers, booleans or null (no nesting)"
    return size


def check_batch(
    rows: list[Any],
    streams: Mapping[int, StreamInfo],
    *,
    now: datetime,
    max_skew: timedelta,
    retention: timedelta,
) -> BatchCheck:
    """Every row checked: each either becomes a :class:`Reading` or is reported with its index."""
    check = BatchCheck()
    latest_allowed = now + max_skew
    earliest_allowed = now - retention
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            check.reject(index, None, "must be an object")
            continue
        unknown = sorted(set(row) - ROW_FIELDS)
        if unknown:
            check.reject(
                index, None, "unknown fields (allowed: " + ", ".join(sorted(ROW_FIELDS)) + ")"
            )
            continue
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            check.reject(index, missing[0], "is required")
            continue
        stream_id = row["datastream"]
        if type(stream_id) is not int or not 1 <= stream_id <= MAX_ID:
            check.reject(index, "datastream", "must be a datastream id (a positive integer)")
            continue
        stream = streams.get(stream_id)
        if stream is None:
            check.reject(index, "datastream", "no such datastream")
            continue
        if not stream.writable:
            check.reject(index, "datastream", "this device key does not cover the datastream")
            continue
        when = parse_time(row["phenomenonTime"])
        if isinstance(when, str):
            check.reject(index, "phenomenonTime", when)
            continue
        if when > latest_allowed:
            check.reject(index, "phenomenonTime", "is in the future")
            continue
        if when < earliest_allowed:
            check.reject(index, "phenomenonTime", "is older than the raw data is kept")
            continue
        problem = check_result(stream.kind, row["result"])
        if problem is not None:
            check.reject(index, "result", problem)
            continue
        parameters = check_parameters(row.get("parameters"))
        if isinstance(parameters, str):
            check.reject(index, "parameters", parameters)
            continue
        check.readings.append(
            Reading(
                stream_id,
                when,
                float(row["result"]),
                row.get("parameters"),
                row["phenomenonTime"],
                parameters or 0,
            )
        )
    return check
