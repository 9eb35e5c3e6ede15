"""The AsyncAPI document: valid AsyncAPI 3.0.0, consistent with the schemas, examples valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from kommune_schemas import SchemaRegistry, asyncapi_path
from kommune_schemas.naming import TOPIC_PATTERN

SCHEMAS_ROOT = Path(__file__).resolve().parents[1]
SPEC = json.loads(
    (SCHEMAS_ROOT / "vendor" / "asyncapi-3.0.0-without-id.json").read_text(encoding="utf-8")
)
DOCUMENT_VALIDATOR = Draft7Validator(SPEC)
ASYNCAPI_SCHEMA_OBJECT = Draft7Validator(
    {"definitions": SPEC["definitions"], "$ref": "#/definitions/schema"}
)


def _errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in DOCUMENT_VALIDATOR.iter_errors(document)
    ]


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(asyncapi_path().read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def demo_document(generator: Any, demo_registry: SchemaRegistry) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(generator.render_asyncapi(demo_registry))
    return document


def test_the_vendored_spec_rejects_a_broken_document(demo_document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(demo_document))
    broken["channels"]["demo.thing.v1"]["adress"] = "typo"
    del broken["info"]["version"]
    assert len(_errors(broken)) == 2


@pytest.mark.parametrize("which", ["committed", "demo_document"])
def test_document_is_valid_asyncapi_3(which: str, request: pytest.FixtureRequest) -> None:
    document = request.getfixturevalue(which)
    assert document["asyncapi"] == "3.0.0"
    assert _errors(document) == []


def _check_consistency(document: dict[str, Any], registry: SchemaRegistry, base: Path) -> None:
    assert document["servers"]["local"]["host"] == "127.0.0.1:19092"
    assert document["servers"]["local"]["protocol"] == "kafka"
    assert set(document["channels"]) == set(registry.topics())
    messages = document["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(registry.known_types())
    for topic, channel in document["channels"].items():
        assert channel["address"] == topic
        assert TOPIC_PATTERN.match(topic)
        sends = [
            op
            for op in document["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{topic}"
        ]
        assert len(sends) == 1, f"{topic} needs exactly one send operation"
        [operation] = sends
        assert operation["action"] == "send"
        producers = {registry.get(t).service for t in registry.topics()[topic]}
        assert [tag["name"] for tag in operation["tags"]] == sorted(producers)
        assert {m["$ref"] for m in operation["messages"]} == {
            f"#/channels/{topic}/messages/{key}" for key in channel["messages"]
        }
        for key, ref in channel["messages"].items():
            assert ref == {"$ref": f"#/components/messages/{key}"}
            message = messages[key]
            entry = registry.get(message["name"])
            assert entry.topic == topic
            assert message["title"] == entry.title == key
            assert message["contentType"] == "application/json"
            assert message["traits"] == [
                {"$ref": "#/components/messageTraits/CloudEventsKafkaBinary"}
            ]
            payload_file = (base / message["payload"]["$ref"]).resolve()
            assert payload_file == entry.path.resolve()


def test_committed_document_matches_the_schemas(
    committed: dict[str, Any], shipped_registry: SchemaRegistry
) -> None:
    _check_consistency(committed, shipped_registry, asyncapi_path().parent)


def test_demo_document_matches_the_schemas(
    demo_document: dict[str, Any], demo_registry: SchemaRegistry
) -> None:
    assert demo_document["channels"]
    _check_consistency(demo_document, demo_registry, demo_registry.root.parent)


def test_trait_documents_the_cloudevents_headers(committed: dict[str, Any]) -> None:
    trait = committed["components"]["messageTraits"]["CloudEventsKafkaBinary"]
    headers = trait["headers"]
    for name in (
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_traceparent",
    ):
        assert name in headers["properties"], name
    assert "ce_traceparent" not in headers["required"]
    assert trait["bindings"]["kafka"]["key"]["type"] == "string"


@pytest.mark.parametrize("which", ["committed", "demo"])
def test_message_examples_are_valid(which: str, request: pytest.FixtureRequest) -> None:
    if which == "committed":
        document = request.getfixturevalue("committed")
        registry: SchemaRegistry = request.getfixturevalue("shipped_registry")
    else:
        document = request.getfixturevalue("demo_document")
        registry = request.getfixturevalue("demo_registry")
    for message in document["components"]["messages"].values():
        assert message.get("examples"), f"{message['name']} has no example"
        for example in message["examples"]:
            registry.validate(message["name"], example["payload"])
            registry.validate_headers(message["name"], example["headers"])
            assert example["headers"]["ce_type"] == message["name"]


@pytest.mark.parametrize("which", ["shipped_registry", "demo_registry"])
def test_payload_schemas_read_as_asyncapi_schema_objects(
    which: str, request: pytest.FixtureRequest
) -> None:
    """The default AsyncAPI schema format (a JSON Schema draft-07 superset) accepts each file."""
    registry: SchemaRegistry = request.getfixturevalue(which)
    for entry in registry:
        errors = [e.message for e in ASYNCAPI_SCHEMA_OBJECT.iter_errors(dict(entry.schema))]
        assert errors == [], f"{entry.path}: {errors}"
