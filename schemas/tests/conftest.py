"""Fixtures of the contract tests: the shipped registry, the generator, and a throwaway schema.

The throwaway ``demo`` service exists only in a temporary directory, so the tooling is tested
whatever event files the services have committed (none at first).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kommune_schemas import SchemaRegistry, default_registry

SCHEMAS_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = SCHEMAS_ROOT.parent

THING_CREATED: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://kommune.heidenheim.de/schemas/events/de.kommune.demo.thing.created.v1.json",
    "title": "ThingCreatedV1",
    "description": "A thing was created. Used only by the tests of the schema tooling.",
    "type": "object",
    "additionalProperties": False,
    "required": ["thing_id", "name", "created_at", "status", "priority", "tags", "location"],
    "properties": {
        "thing_id": {"type": "string", "format": "uuid", "description": "Id of the thing."},
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Its name."},
        "created_at": {"type": "string", "format": "date-time", "description": "When."},
        "status": {"type": "string", "enum": ["draft", "open"], "description": "Its status."},
        "priority": {
            "type": ["string", "null"],
            "enum": ["low", "high", None],
            "description": "Its priority; null when nobody set one.",
        },
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Free tags."},
        "score": {"type": ["integer", "null"], "minimum": 0, "description": "Optional score."},
        "location": {"$ref": "#/$defs/Location", "description": "Where the thing is."},
    },
    "$defs": {
        "Location": {
            "title": "Location",
            "type": "object",
            "description": "A WGS 84 point.",
            "additionalProperties": False,
            "required": ["lat", "lon"],
            "properties": {
                "lat": {"type": "number", "description": "Latitude."},
                "lon": {"type": "number", "description": "Longitude."},
            },
        }
    },
    "examples": [
        {
            "thing_id": "0b8f9a36-6a52-4d43-9d4c-0a3c5d1e2f10",
            "name": "Parkbank am Brenzufer",
            "created_at": "2026-03-02T09:30:00+01:00",
            "status": "draft",
            "priority": None,
            "tags": ["brenzpark"],
            "score": None,
            "location": {"lat": 48.6767, "lon": 10.1528},
        }
    ],
}

THING_ARCHIVED: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://kommune.heidenheim.de/schemas/events/de.kommune.demo.thing.archived.v1.json",
    "title": "ThingArchivedV1",
    "description": "A thing was archived.",
    "type": "object",
    "additionalProperties": False,
    "required": ["thing_id"],
    "properties": {"thing_id": {"type": "string", "format": "uuid", "description": "Its id."}},
    "examples": [{"thing_id": "0b8f9a36-6a52-4d43-9d4c-0a3c5d1e2f10"}],
}

DEMO_SCHEMAS: dict[str, dict[str, Any]] = {
    "de.kommune.demo.thing.created.v1": THING_CREATED,
    "de.kommune.demo.thing.archived.v1": THING_ARCHIVED,
}

WriteSchemas = Callable[[dict[str, dict[str, Any]]], Path]


def write_schema_dir(root: Path, schemas: dict[str, dict[str, Any]]) -> Path:
    """``root/<service>/<type>.json`` for each ``type -> schema``; returns ``root``."""
    for event_type, schema in schemas.items():
        service = event_type.split(".")[2]
        path = root / service / f"{event_type}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture
def write_schemas(tmp_path: Path) -> WriteSchemas:
    """Factory: a fresh schema directory holding the given schemas."""
    counter = iter(range(1_000))

    def factory(schemas: dict[str, dict[str, Any]]) -> Path:
        return write_schema_dir(tmp_path / f"events{next(counter)}", copy.deepcopy(schemas))

    return factory


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_schema_dir(tmp_path_factory.mktemp("demo") / "events", DEMO_SCHEMAS)


@pytest.fixture(scope="session")
def demo_registry(demo_dir: Path) -> SchemaRegistry:
    return SchemaRegistry(demo_dir)


@pytest.fixture(scope="session")
def shipped_registry() -> SchemaRegistry:
    return default_registry()


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    """``schemas/tools/generate.py``, imported as a module."""
    name = "kommune_schemas_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCHEMAS_ROOT / "tools" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shipped_outputs(generator: ModuleType, shipped_registry: SchemaRegistry) -> dict[Path, str]:
    """What the generator makes of the committed schemas right now (runs datamodel-codegen)."""
    outputs: dict[Path, str] = generator.render_all(shipped_registry)
    return outputs


@pytest.fixture(scope="session")
def demo_outputs(generator: ModuleType, demo_registry: SchemaRegistry) -> dict[Path, str]:
    outputs: dict[Path, str] = generator.render_all(demo_registry)
    return outputs


@pytest.fixture
def demo_schemas() -> dict[str, dict[str, Any]]:
    """A fresh copy of the throwaway schemas, to break in a test."""
    return copy.deepcopy(DEMO_SCHEMAS)
