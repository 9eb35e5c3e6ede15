"""The privacy filter finds identifiers anywhere in a row and leaves counts alone."""

from __future__ import annotations

from typing import Any

import pytest

from kommune_sensors.ingestion.privacy import Identifier, scan_batch, scan_row

TIME = "2026-11-29T09:30:00+01:00"


def row(**parameters: Any) -> dict[str, Any]:
    return {"datastream": 1, "phenomenonTime": TIME, "result": 12, "parameters": parameters}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("a4:5e:60:e8:1f:0b", Identifier.MAC_ADDRESS),
        ("A4-5E-60-E8-1F-0B", Identifier.MAC_ADDRESS),
        ("a45e.60e8.1f0b", Identifier.MAC_ADDRESS),
        ("seen a45e60e81f0b twice", Identifier.DEVICE_ID),  # a MAC without separators
        ("5f4dcc3b5aa765d61d8327deb882cf99", Identifier.DEVICE_ID),  # a hashed MAC
        ("6f1d1c2e-0b7a-4c55-9d0e-2a6b8f3c4d5e", Identifier.DEVICE_ID),  # advertising id
        ("356938035643809", Identifier.DEVICE_ID),  # IMEI
        ("HDH-AB 123", Identifier.NUMBER_PLATE),
        ("car HDH AB1234 inbound", Identifier.NUMBER_PLATE),
        ("S-XY 12E", Identifier.NUMBER_PLATE),
    ],
)
def test_identifiers_in_parameters_are_found(value: str, kind: Identifier) -> None:
    assert scan_row(row(note=value)) is kind


@pytest.mark.parametrize(
    "value", ["in", "stadteinwärts", "CO2", "PM10", "Lane A", "Zone B 12x", "2026-11-29T09:30:00Z"]
)
def test_ordinary_parameters_pass(value: str) -> None:
    assert scan_row(row(direction=value)) is None


def test_nested_values_keys_and_long_numbers_are_scanned() -> None:
    assert scan_row(row(seen=[{"x": {"y": ["a4:5e:60:e8:1f:0b"]}}])) is Identifier.MAC_ADDRESS
    assert scan_row(row(mac_hash="x")) is Identifier.IDENTIFYING_FIELD
    assert scan_row({**row(), "license_plate": "x"}) is Identifier.IDENTIFYING_FIELD
    assert scan_row(row(**{"a4:5e:60:e8:1f:0b": 1})) is Identifier.MAC_ADDRESS
    assert scan_row(row(imei_like=356938035643809)) is not None
    assert scan_row({**row(), "phenomenonTime": "a4:5e:60:e8:1f:0b"}) is Identifier.MAC_ADDRESS


def test_large_counts_in_result_and_ids_are_not_identifiers() -> None:
    assert scan_row({"datastream": 10**15, "phenomenonTime": TIME, "result": 10**13}) is None


def test_the_batch_report_names_indexes_and_kinds_only() -> None:
    findings = scan_batch([row(), row(x="a4:5e:60:e8:1f:0b"), row(), row(p="HDH-AB 123")])
    report = [finding.as_dict() for finding in findings]
    assert report == [
        {"index": 1, "kind": "mac_address"},
        {"index": 3, "kind": "number_plate"},
    ]
    assert "a4:5e" not in repr(report)


def test_deep_nesting_does_not_recurse() -> None:
    deep: Any = "a4:5e:60:e8:1f:0b"
    for _ in range(10_000):
        deep = [deep]
    assert scan_row(row(x=deep)) is Identifier.MAC_ADDRESS
