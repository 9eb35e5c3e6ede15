"""Shared helper of the benchmark scripts: merge figures into ``bench/results.json``.

The file is a list of records ``{name, value, unit, baseline_name, baseline_value, ratio,
measured_at, notes}`` keyed by ``name``: each script replaces its own entries and keeps the others,
so running every script in turn builds one file. ``ratio = value / baseline_value``; both numbers
are measured in the same run, because absolute figures on a shared machine drift.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


def result(
    name: str,
    value: float,
    unit: str,
    *,
    baseline_name: str,
    baseline_value: float,
    notes: str = "",
) -> dict[str, Any]:
    """One record; the ratio is computed here so that every script computes it the same way."""
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": round(baseline_value, 3),
        "ratio": round(value / baseline_value, 4) if baseline_value else None,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": notes,
    }


def load(path: Path = RESULTS_PATH) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data) if isinstance(data, list) else []


def merge(records: list[dict[str, Any]], path: Path = RESULTS_PATH) -> list[dict[str, Any]]:
    """Replace the entries with the same names, keep the rest, write atomically; return all."""
    by_name = {entry["name"]: entry for entry in load(path)}
    by_name.update({entry["name"]: entry for entry in records})
    merged = sorted(by_name.values(), key=lambda entry: str(entry["name"]))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(merged, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    os.replace(tmp, path)
    return merged
