"""House rules of the event schemas: every committed file keeps them; each rule is enforced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kommune_schemas import SchemaRegistry, default_registry
from kommune_schemas.conventions import problems, registry_problems

CREATED = "de.kommune.demo.thing.created.v1"
SHIPPED = default_registry()


@pytest.mark.parametrize("event_type", SHIPPED.known_types())
def test_committed_schema_keeps_the_house_rules(event_type: str) -> None:
    entry = SHIPPED.get(event_type)
    found = problems(entry, SHIPPED)
    assert not found, f"{entry.path}:\n" + "\n".join(found)


def test_committed_titles_are_unique() -> None:
    assert registry_problems(SHIPPED) == []


def test_the_throwaway_schemas_keep_them(demo_registry: SchemaRegistry) -> None:
    for entry in demo_registry:
        assert problems(entry, demo_registry) == []


def _break(schema: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    change(schema)
    return schema


BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("wrong id", lambda s: s.update({"$id": "https://example.org/x.json"}), "$id: must be"),
    (
        "draft 7",
        lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"}),
        "$schema",
    ),
    ("lower title", lambda s: s.update({"title": "thingCreated"}), "title: must be PascalCase"),
    ("title version", lambda s: s.update({"title": "ThingCreatedV2"}), "must end in V1"),
    ("no description", lambda s: s.pop("description"), "description: say what happened"),
    ("open object", lambda s: s.pop("additionalProperties"), "additionalProperties: must be"),
    ("no required", lambda s: s.pop("required"), "required: list"),
    ("no examples", lambda s: s.pop("examples"), "examples: give one"),
    ("bad example", lambda s: s["examples"][0].pop("name"), "examples: example 0 is invalid"),
    (
        "field without description",
        lambda s: s["properties"]["name"].pop("description"),
        "#/properties/name has no description",
    ),
    (
        "open nested object",
        lambda s: s["$defs"]["Location"].pop("additionalProperties"),
        "#/$defs/Location must set it to false",
    ),
    (
        "2020-12 only keyword",
        lambda s: s["properties"]["tags"].update({"prefixItems": [{"type": "string"}]}),
        "portability: #/properties/tags uses 'prefixItems'",
    ),
    (
        "external ref",
        lambda s: s["properties"]["location"].update({"$ref": "https://example.org/l.json"}),
        "self-contained: #/properties/location refers to",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in BREAKAGES], ids=[n for n, _, _ in BREAKAGES]
)
def test_each_rule_is_enforced(
    write_schemas: Callable[[dict[str, dict[str, Any]]], Path],
    demo_schemas: dict[str, dict[str, Any]],
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    _break(demo_schemas[CREATED], change)
    registry = SchemaRegistry(write_schemas(demo_schemas))
    found = problems(registry.get(CREATED), registry)
    assert any(expected in problem for problem in found), found


def test_a_schema_in_the_wrong_service_folder_is_reported(
    tmp_path: Path, demo_schemas: dict[str, dict[str, Any]]
) -> None:
    path = tmp_path / "other" / f"{CREATED}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(demo_schemas[CREATED]), encoding="utf-8")
    registry = SchemaRegistry(tmp_path)
    assert any(
        "belongs in a folder named 'demo'" in p for p in problems(registry.get(CREATED), registry)
    )


def test_duplicate_titles_are_reported(
    write_schemas: Callable[[dict[str, dict[str, Any]]], Path],
    demo_schemas: dict[str, dict[str, Any]],
) -> None:
    demo_schemas["de.kommune.demo.thing.archived.v1"]["title"] = "ThingCreatedV1"
    registry = SchemaRegistry(write_schemas(demo_schemas))
    [found] = registry_problems(registry)
    assert "'ThingCreatedV1' is used by" in found


def test_shared_definitions_that_differ_are_reported(
    write_schemas: Callable[[dict[str, dict[str, Any]]], Path],
    demo_schemas: dict[str, dict[str, Any]],
) -> None:
    archived = demo_schemas["de.kommune.demo.thing.archived.v1"]
    location = demo_schemas[CREATED]["$defs"]["Location"]
    archived["$defs"] = {"Location": location}
    registry = SchemaRegistry(write_schemas(demo_schemas))
    assert registry_problems(registry) == []  # the same definition in two files is fine

    archived["$defs"]["Location"] = {**location, "description": "Another point."}
    registry = SchemaRegistry(write_schemas(demo_schemas))
    [found] = registry_problems(registry)
    assert "$defs: 'Location' in de.kommune.demo.thing.created.v1 differs" in found
    assert "kommune_schemas.generated.demo" in found

    # Definitions are matched by the name they generate: the title, else the key.
    archived["$defs"] = {"Place": {**location, "description": "Another point."}}
    registry = SchemaRegistry(write_schemas(demo_schemas))
    [found] = registry_problems(registry)
    assert "'Location'" in found

    # Another service may use the name for something else: its models are another module.
    other = json.loads(json.dumps(archived).replace(".demo.", ".other."))
    demo_schemas.pop("de.kommune.demo.thing.archived.v1")
    demo_schemas["de.kommune.other.thing.archived.v1"] = other
    registry = SchemaRegistry(write_schemas(demo_schemas))
    assert registry_problems(registry) == []
