"""The generator: committed outputs are fresh; models, catalogue and file handling work."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from kommune_schemas import EventContractError, SchemaRegistry, model_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CREATED = "de.kommune.demo.thing.created.v1"
ARCHIVED = "de.kommune.demo.thing.archived.v1"


def test_committed_outputs_are_fresh(
    generator: ModuleType, shipped_outputs: dict[Path, str]
) -> None:
    stale = generator.stale(shipped_outputs, REPO_ROOT)
    assert not stale, (
        "generated files do not match schemas/events:\n  "
        + "\n  ".join(stale)
        + f"\nrun: {generator.COMMAND}"
    )


def test_outputs_cover_every_service(
    generator: ModuleType, shipped_registry: SchemaRegistry, shipped_outputs: dict[Path, str]
) -> None:
    expected = {generator.GENERATED_DIR / f"{s}.py" for s in shipped_registry.services()}
    expected |= {
        generator.GENERATED_DIR / "__init__.py",
        generator.ASYNCAPI_FILE,
        generator.CATALOGUE_FILE,
    }
    assert set(shipped_outputs) == expected


def test_every_shipped_type_has_a_model_that_accepts_its_examples(
    shipped_registry: SchemaRegistry,
) -> None:
    for entry in shipped_registry:
        model = model_for(entry.type)
        assert model.__name__ == entry.title
        for payload in entry.examples:
            dumped = model.model_validate(payload).model_dump(mode="json", exclude_unset=True)
            shipped_registry.validate(entry.type, dumped)


def test_model_for_unknown_type() -> None:
    with pytest.raises(EventContractError, match="unknown event type"):
        model_for("de.kommune.demo.thing.lost.v1")


def _load_module(name: str, code: str, tmp_path: Path) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_generated_models_mirror_the_schemas(
    generator: ModuleType,
    demo_outputs: dict[Path, str],
    demo_registry: SchemaRegistry,
    tmp_path: Path,
) -> None:
    code = demo_outputs[generator.GENERATED_DIR / "demo.py"]
    assert code.startswith("# Generated from schemas/events/demo/ by schemas/tools/generate.py")
    module = _load_module("kommune_demo_events", code, tmp_path)

    created: type[BaseModel] = module.ThingCreatedV1
    example: dict[str, Any] = demo_registry.get(CREATED).examples[0]
    model = created.model_validate(example)
    assert model.model_dump(mode="json") == example
    assert model.created_at.utcoffset() is not None  # type: ignore[attr-defined]

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        created.model_validate({**example, "colour": "green"})
    with pytest.raises(ValidationError, match="timezone"):
        created.model_validate({**example, "created_at": "2026-03-02T09:30:00"})
    with pytest.raises(ValidationError):
        created.model_validate({**example, "status": "gone"})
    # A nullable enum is `Enum | None`, not an enum with a None member.
    assert "priority: Annotated[\n        Priority | None," in code
    assert [member.value for member in module.Priority] == ["low", "high"]
    assert (
        created.model_validate({**example, "priority": "high"}).model_dump(mode="json")["priority"]
        == "high"
    )
    # Enum members are upper case, so a value like "title" cannot shadow a str method.
    assert module.Status.DRAFT == "draft"

    event_types = module.DemoEventType
    assert {member.value for member in event_types} == {CREATED, ARCHIVED}
    assert event_types.DE_KOMMUNE_DEMO_THING_CREATED_V1 == CREATED
    index = demo_outputs[generator.GENERATED_DIR / "__init__.py"]
    assert f'"{CREATED}": demo.ThingCreatedV1,' in index


def test_a_definition_shared_by_several_files_is_one_class(
    generator: ModuleType,
    write_schemas: Callable[[dict[str, dict[str, Any]]], Path],
    demo_schemas: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    phase = {
        "title": "ThingPhase",
        "type": "string",
        "enum": ["draft", "open", "archived"],
        "description": "Where the thing is in its life.",
    }
    created, archived = demo_schemas[CREATED], demo_schemas[ARCHIVED]
    created["$defs"]["ThingPhase"] = phase
    created["properties"]["phase"] = {"$ref": "#/$defs/ThingPhase", "description": "Now."}
    archived["$defs"] = {"ThingPhase": phase}
    archived["properties"]["previous_phase"] = {
        "anyOf": [{"$ref": "#/$defs/ThingPhase"}, {"type": "null"}],
        "description": "Before archiving; null if unknown.",
    }
    archived["required"].append("previous_phase")
    archived["examples"][0]["previous_phase"] = "open"
    registry = SchemaRegistry(write_schemas(demo_schemas))
    outputs = generator.render_all(registry)
    code = outputs[generator.GENERATED_DIR / "demo.py"]
    assert code.count("class ThingPhase(StrEnum)") == 1
    assert 'phase: Annotated[ThingPhase | None, Field(description="Now.")]' in code
    assert "previous_phase: Annotated[\n        ThingPhase | None," in code
    module = _load_module("kommune_demo_shared_events", code, tmp_path)
    payload = module.ThingArchivedV1(thing_id=uuid.uuid4(), previous_phase=module.ThingPhase.OPEN)
    registry.validate(ARCHIVED, payload)
    catalogue = outputs[generator.CATALOGUE_FILE]
    assert (
        '| `previous_phase` | one of `"draft"`, `"open"`, `"archived"` or null | yes '
        "| Before archiving; null if unknown. Where the thing is in its life. |" in catalogue
    )

    archived["$defs"]["ThingPhase"] = {**phase, "enum": ["draft", "archived"]}
    archived["examples"][0]["previous_phase"] = "draft"
    with pytest.raises(generator.ContractError, match=r"'ThingPhase' in .* differs"):
        generator.render_all(SchemaRegistry(write_schemas(demo_schemas)))


def test_catalogue_lists_topics_events_and_fields(
    generator: ModuleType, demo_outputs: dict[Path, str]
) -> None:
    catalogue = demo_outputs[generator.CATALOGUE_FILE]
    assert "| `demo.thing.v1` | demo |" in catalogue
    assert f"#### `{CREATED}`" in catalogue
    assert "| `thing_id` | string (uuid) | yes | Id of the thing. |" in catalogue
    assert "| `location.lat` | number | yes | Latitude. |" in catalogue
    assert '| `status` | one of `"draft"`, `"open"` | yes | Its status. |' in catalogue
    assert "| `score` | integer \\| null | no | Optional score. |" in catalogue
    assert '"name": "Parkbank am Brenzufer"' in catalogue
    assert "| `ce_dataschema` | yes |" in catalogue


def test_write_then_check_and_left_over_modules(
    generator: ModuleType, demo_outputs: dict[Path, str], tmp_path: Path
) -> None:
    assert len(generator.stale(demo_outputs, tmp_path)) == len(demo_outputs)
    written = generator.write(demo_outputs, tmp_path)
    assert set(written) == set(demo_outputs)
    assert generator.stale(demo_outputs, tmp_path) == []
    assert generator.write(demo_outputs, tmp_path) == []

    left_over = tmp_path / generator.GENERATED_DIR / "retired.py"
    left_over.write_text("# a service that no longer publishes\n", encoding="utf-8")
    (tmp_path / generator.CATALOGUE_FILE).write_text("edited by hand\n", encoding="utf-8")
    assert generator.stale(demo_outputs, tmp_path) == [
        f"{generator.CATALOGUE_FILE} is out of date",
        f"{generator.GENERATED_DIR / 'retired.py'} is left over",
    ]
    generator.write(demo_outputs, tmp_path)
    assert not left_over.exists()
    assert generator.stale(demo_outputs, tmp_path) == []


def test_broken_schemas_stop_the_generator(
    generator: ModuleType,
    write_schemas: Callable[[dict[str, dict[str, Any]]], Path],
    demo_schemas: dict[str, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    demo_schemas[CREATED]["title"] = "thing created"
    root = write_schemas(demo_schemas)
    with pytest.raises(generator.ContractError, match="title: must be PascalCase"):
        generator.render_all(SchemaRegistry(root))
    assert generator.main(["--check", "--schemas", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{CREATED}.json: title: must be PascalCase" in err


def test_check_mode_reports_stale_files_and_the_command(
    generator: ModuleType, demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo schemas are not the committed ones, so the committed outputs are stale for them.
    assert generator.main(["--check", "--schemas", str(demo_dir)]) == 1
    out = capsys.readouterr().out
    assert "schemas/src/kommune_schemas/generated/demo.py is missing" in out
    assert "run: make schemas" in out
