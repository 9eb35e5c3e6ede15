"""The registry: loading, lookups, payload and header validation, naming rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import kommune_schemas
from kommune_schemas import (
    EventContractError,
    EventTypeName,
    InvalidEventTypeError,
    SchemaLoadError,
    SchemaRegistry,
    derive_topic,
    schema_id_for,
)
from kommune_schemas.formats import is_rfc3339_date_time

CREATED = "de.kommune.demo.thing.created.v1"
ARCHIVED = "de.kommune.demo.thing.archived.v1"


def example(registry: SchemaRegistry, event_type: str = CREATED) -> dict[str, Any]:
    payload: dict[str, Any] = registry.schema_for(event_type)["examples"][0]
    return payload


def headers_for(event_type: str = CREATED, **overrides: str) -> dict[str, str]:
    headers = {
        "ce_id": "7c1e8f0e-2f7a-4d8e-9a51-0f3b7c2d9e11",
        "ce_source": "/kommune/demo",
        "ce_type": event_type,
        "ce_specversion": "1.0",
        "ce_time": datetime(2026, 3, 2, 8, 30, tzinfo=UTC).isoformat(),
        "ce_subject": "0b8f9a36-6a52-4d43-9d4c-0a3c5d1e2f10",
        "ce_dataschema": schema_id_for(event_type),
        "content-type": "application/json",
    }
    headers.update(overrides)
    return headers


# -- names --------------------------------------------------------------------------------------


def test_type_names_split_into_service_aggregate_event_version() -> None:
    name = EventTypeName.parse("de.kommune.ideas.idea.status_changed.v2")
    assert (name.service, name.aggregate, name.event, name.version) == (
        "ideas",
        "idea",
        "status_changed",
        2,
    )
    assert name.topic == "ideas.idea.v2"
    assert name.suggested_title == "IdeaStatusChangedV2"
    assert name.schema_id == (
        "https://kommune.heidenheim.de/schemas/events/de.kommune.ideas.idea.status_changed.v2.json"
    )
    assert derive_topic("de.kommune.egov.request.submitted.v1") == "egov.request.v1"


@pytest.mark.parametrize(
    "bad",
    [
        "ideas.idea.created.v1",
        "de.kommune.ideas.idea.created",
        "de.kommune.ideas.idea.created.v0",
        "de.kommune.Ideas.idea.created.v1",
        "de.kommune.ideas.idea.created.V1",
        "de.kommune.ideas.idea.v1",
        "de.kommune.ideas.idea.created.v1.json",
        "com.example.ideas.idea.created.v1",
    ],
)
def test_malformed_types_are_rejected_with_the_expected_shape(bad: str) -> None:
    with pytest.raises(InvalidEventTypeError, match=r"de\.kommune\.<service>"):
        EventTypeName.parse(bad)


# -- loading and lookups ------------------------------------------------------------------------


def test_registry_lists_types_topics_and_services(demo_registry: SchemaRegistry) -> None:
    assert demo_registry.known_types() == (ARCHIVED, CREATED)
    assert demo_registry.topics() == {"demo.thing.v1": (ARCHIVED, CREATED)}
    assert demo_registry.services() == ("demo",)
    assert demo_registry.topic_for(CREATED) == "demo.thing.v1"
    assert CREATED in demo_registry
    assert "nope" not in demo_registry
    assert [entry.type for entry in demo_registry] == [ARCHIVED, CREATED]


def test_schema_for_returns_a_copy(demo_registry: SchemaRegistry) -> None:
    schema = demo_registry.schema_for(CREATED)
    assert schema["$id"] == schema_id_for(CREATED)
    schema["properties"].clear()
    assert demo_registry.schema_for(CREATED)["properties"]


def test_unknown_type_names_the_missing_file(demo_registry: SchemaRegistry) -> None:
    with pytest.raises(EventContractError, match=r"demo/de\.kommune\.demo\.thing\.lost\.v1\.json"):
        demo_registry.topic_for("de.kommune.demo.thing.lost.v1")
    with pytest.raises(EventContractError, match="is not a Kommune event type"):
        demo_registry.schema_for("thing.created")


def test_shipped_schemas_are_found(shipped_registry: SchemaRegistry) -> None:
    root = kommune_schemas.default_schema_dir()
    assert root.is_dir()
    assert shipped_registry.root == root
    on_disk = sorted(path.stem for path in root.glob("*/*.json"))
    assert list(shipped_registry.known_types()) == on_disk
    assert kommune_schemas.known_types() == shipped_registry.known_types()
    assert kommune_schemas.asyncapi_path().is_file()


def test_module_functions_use_the_shipped_schemas(shipped_registry: SchemaRegistry) -> None:
    for event_type in shipped_registry.known_types():
        assert kommune_schemas.topic_for(event_type) == derive_topic(event_type)
        assert kommune_schemas.schema_for(event_type)["$id"] == schema_id_for(event_type)
        for payload in shipped_registry.get(event_type).examples:
            kommune_schemas.validate(event_type, payload)


@pytest.mark.parametrize(
    ("layout", "content", "message"),
    [
        ("demo/not-a-type.json", "{}", "file name is not an event type"),
        ("de.kommune.demo.thing.created.v1.json", "{}", "<service>/<event type>.json"),
        ("demo/de.kommune.demo.thing.created.v1.json", "{", "cannot read JSON"),
        ("demo/de.kommune.demo.thing.created.v1.json", "[]", "must be a JSON object"),
        (
            "demo/de.kommune.demo.thing.created.v1.json",
            '{"type": "objekt"}',
            "not a valid JSON Schema 2020-12",
        ),
    ],
)
def test_broken_files_fail_loading_with_their_path(
    tmp_path: Path, layout: str, content: str, message: str
) -> None:
    path = tmp_path / layout
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SchemaLoadError, match=message) as info:
        SchemaRegistry(tmp_path)
    assert str(path) in str(info.value)


def test_a_type_defined_twice_fails_loading(tmp_path: Path) -> None:
    for service in ("demo", "other"):
        path = tmp_path / service / f"{CREATED}.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"type": "object"}), encoding="utf-8")
    with pytest.raises(SchemaLoadError, match="also defined in"):
        SchemaRegistry(tmp_path)


def test_missing_directory_fails_loading(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match="does not exist"):
        SchemaRegistry(tmp_path / "nowhere")


# -- payloads -----------------------------------------------------------------------------------


def test_valid_payload_passes(demo_registry: SchemaRegistry) -> None:
    demo_registry.validate(CREATED, example(demo_registry))
    assert demo_registry.errors(CREATED, example(demo_registry)) == []


def test_every_violation_is_reported_with_its_path(demo_registry: SchemaRegistry) -> None:
    payload = example(demo_registry)
    del payload["name"]
    payload["status"] = "gone"
    payload["location"]["lat"] = "north"
    payload["colour"] = "green"
    with pytest.raises(EventContractError) as info:
        demo_registry.validate(CREATED, payload)
    error = info.value
    assert error.event_type == CREATED
    assert str(error).startswith(f"payload of {CREATED} does not match {schema_id_for(CREATED)}")
    joined = "\n".join(error.errors)
    assert "$: 'name' is a required property" in joined
    assert "'colour' was unexpected" in joined
    assert "$.status: 'gone' is not one of ['draft', 'open']" in joined
    assert "$.location.lat: 'north' is not of type 'number'" in joined
    assert len(error.errors) == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("thing_id", "not-a-uuid"),
        ("created_at", "2026-03-02T09:30:00"),
        ("created_at", "2026-03-02 09:30:00+01:00"),
        ("created_at", "2026-02-30T09:30:00Z"),
        ("created_at", "yesterday"),
    ],
)
def test_formats_are_checked(demo_registry: SchemaRegistry, field: str, value: str) -> None:
    payload = example(demo_registry)
    payload[field] = value
    with pytest.raises(EventContractError, match=f"\\$\\.{field}: .* is not a '"):
        demo_registry.validate(CREATED, payload)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-03-02T09:30:00Z", True),
        ("2026-03-02T09:30:00.123456+00:00", True),
        ("2026-03-02t09:30:00-05:30", True),
        ("2026-03-02T09:30:00", False),
        ("2026-03-02T09:30+01:00", False),
        ("2026-13-02T09:30:00Z", False),
    ],
)
def test_rfc3339_needs_an_offset(value: str, valid: bool) -> None:
    assert is_rfc3339_date_time(value) is valid


def test_pydantic_models_are_validated_as_json(demo_registry: SchemaRegistry) -> None:
    class Archived(BaseModel):
        thing_id: Any

    import uuid

    demo_registry.validate(ARCHIVED, Archived(thing_id=uuid.uuid4()))
    with pytest.raises(EventContractError, match="is not a 'uuid'"):
        demo_registry.validate(ARCHIVED, Archived(thing_id="x"))


def test_validators_are_built_once(demo_registry: SchemaRegistry) -> None:
    assert demo_registry.validator_for(CREATED) is demo_registry.validator_for(CREATED)


# -- headers ------------------------------------------------------------------------------------


def test_outbox_style_headers_pass(demo_registry: SchemaRegistry) -> None:
    headers = headers_for(ce_traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    demo_registry.validate_headers(CREATED, headers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ce_type": ARCHIVED}, f"is not '{CREATED}'"),
        ({"ce_dataschema": schema_id_for(ARCHIVED)}, f"is not '{schema_id_for(CREATED)}'"),
        ({"ce_specversion": "0.3"}, "'1.0' was expected"),
        ({"ce_time": "2026-03-02T09:30:00"}, "is not a 'date-time'"),
        ({"ce_traceparent": "abc"}, "does not match"),
        ({"content-type": "text/plain"}, "'application/json' was expected"),
    ],
)
def test_bad_headers_are_reported(
    demo_registry: SchemaRegistry, change: dict[str, str], message: str
) -> None:
    with pytest.raises(EventContractError, match="not a valid CloudEvents envelope") as info:
        demo_registry.validate_headers(CREATED, headers_for(**change))
    assert message in "\n".join(info.value.errors)


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_time", "ce_subject"])
def test_required_headers(demo_registry: SchemaRegistry, missing: str) -> None:
    headers = headers_for()
    del headers[missing]
    assert demo_registry.header_errors(CREATED, headers) == [
        f"$: '{missing}' is a required property"
    ]


def test_an_unresolvable_ref_is_a_contract_error(
    write_schemas: Any, demo_schemas: dict[str, dict[str, Any]]
) -> None:
    demo_schemas[CREATED]["properties"]["location"]["$ref"] = "https://example.org/l.json"
    registry = SchemaRegistry(write_schemas(demo_schemas))
    with pytest.raises(EventContractError, match="cannot be resolved"):
        registry.validate(CREATED, registry.get(CREATED).examples[0])
