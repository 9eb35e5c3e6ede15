"""Generate everything that is derived from the event schemas in ``schemas/events/``.

    uv run python schemas/tools/generate.py           # write the outputs (this is `make schemas`)
    uv run python schemas/tools/generate.py --check   # exit 1 and list what is stale

Outputs, all committed:

- ``schemas/src/kommune_schemas/generated/<service>.py``: pydantic v2 models (datamodel-codegen),
  one module per producing service; ``generated/__init__.py`` maps each event type to its model.
- ``schemas/asyncapi.yaml``: the AsyncAPI 3.0.0 document (one channel per topic).
- ``docs/events.md``: the event catalogue.

The schemas are checked against the house rules first (``kommune_schemas.conventions``); a broken
contract stops the run with its file and rule, so nothing is generated from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import yaml

from kommune_schemas.conventions import problems, registry_problems
from kommune_schemas.envelope import (
    CLOUDEVENTS_HEADERS_SCHEMA,
    CONTENT_TYPE,
    REQUIRED_HEADERS,
    SPECVERSION,
)
from kommune_schemas.naming import JSON_SCHEMA_DIALECT, pascal_case
from kommune_schemas.registry import EventSchema, SchemaLoadError, SchemaRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO_ROOT / "schemas" / "events"
GENERATED_DIR = Path("schemas/src/kommune_schemas/generated")
ASYNCAPI_FILE = Path("schemas/asyncapi.yaml")
CATALOGUE_FILE = Path("docs/events.md")
COMMAND = "make schemas  (= uv run python schemas/tools/generate.py)"

LOCAL_KAFKA = "127.0.0.1:19092"
KAFKA_VERSION = "4.1"
EXAMPLE_TIME = "2026-03-02T09:30:00+01:00"
EXAMPLE_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRAIT = "CloudEventsKafkaBinary"

CODEGEN_OPTIONS: tuple[str, ...] = (
    "--input-file-type",
    "jsonschema",
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--disable-timestamp",
    "--use-annotated",
    "--target-python-version",
    "3.11",
    "--use-standard-collections",
    "--use-union-operator",
    "--field-constraints",
    "--use-schema-description",
    "--use-title-as-name",
    "--use-double-quotes",
    "--output-datetime-class",
    "AwareDatetime",
    "--formatters",
    "builtin",
    "--capitalise-enum-members",
)


class ContractError(Exception):
    """The schemas break house rules; nothing was generated."""


# -- checks -------------------------------------------------------------------------------------


def contract_problems(registry: SchemaRegistry) -> list[str]:
    found: list[str] = []
    for entry in registry:
        location = _display_path(entry.path)
        found.extend(f"{location}: {problem}" for problem in problems(entry, registry))
    found.extend(registry_problems(registry))
    return found


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# -- pydantic models ----------------------------------------------------------------------------


def _model_header(service: str) -> str:
    return (
        f"# Generated from schemas/events/{service}/ by schemas/tools/generate.py: do not edit.\n"
        "# Regenerate with `make schemas`."
    )


def _by_service(registry: SchemaRegistry) -> dict[str, list[EventSchema]]:
    grouped: dict[str, list[EventSchema]] = {}
    for entry in registry:
        grouped.setdefault(entry.service, []).append(entry)
    return grouped


def _codegen_friendly(node: Any) -> Any:
    """The same schema, with nullable enums spelled as ``anyOf: [enum, null]``.

    ``{"type": ["string", "null"], "enum": [..., null]}`` is the natural JSON Schema, but
    datamodel-codegen turns it into an enum with a ``None`` member instead of ``Enum | None``.
    """
    if isinstance(node, list):
        return [_codegen_friendly(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    result = {key: _codegen_friendly(value) for key, value in node.items()}
    kinds, values = result.get("type"), result.get("enum")
    if isinstance(kinds, list) and "null" in kinds and isinstance(values, list) and None in values:
        outer = {key: result.pop(key) for key in ("description", "title") if key in result}
        non_null = [kind for kind in kinds if kind != "null"]
        result["type"] = non_null[0] if len(non_null) == 1 else non_null
        result["enum"] = [value for value in values if value is not None]
        if "description" in outer:
            result["description"] = outer["description"]
        return {**outer, "anyOf": [result, {"type": "null"}]}
    return result


def _service_bundle(service: str, entries: Sequence[EventSchema]) -> dict[str, Any]:
    """One schema per service: its event types as the root enum, each event schema in ``$defs``."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"{pascal_case(service)}EventType",
        "description": f"The event types the {service} service publishes.",
        "type": "string",
        "enum": [entry.type for entry in entries],
        "$defs": {entry.title: _codegen_friendly(entry.schema) for entry in entries},
    }


def _run_codegen(bundle: Mapping[str, Any], service: str, workdir: Path) -> str:
    source = workdir / f"{service}.json"
    target = workdir / f"{service}.py"
    source.write_text(json.dumps(bundle, indent=2, ensure_ascii=False), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "datamodel_code_generator",
        "--input",
        str(source),
        "--output",
        str(target),
        *CODEGEN_OPTIONS,
        "--custom-file-header",
        _model_header(service),
    ]
    result = subprocess.run(  # noqa: S603 - fixed command, our own interpreter
        command, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ContractError(
            f"datamodel-codegen failed for the {service} schemas:\n{result.stderr.strip()}"
        )
    return target.read_text(encoding="utf-8")


def _models_index(grouped: Mapping[str, Sequence[EventSchema]]) -> str:
    lines = [
        '"""Pydantic models of the event payloads, generated from schemas/events: do not edit.',
        "",
        "Regenerate with `make schemas`. One module per producing service; ``MODELS`` maps each",
        "event type to its payload model (see ``kommune_schemas.model_for``).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from pydantic import BaseModel",
        "",
    ]
    for service in grouped:
        lines.append(f"from kommune_schemas.generated import {service}")
    if grouped:
        lines.append("")
    if grouped:
        lines.append("MODELS: dict[str, type[BaseModel]] = {")
        for service, entries in grouped.items():
            for entry in entries:
                lines.append(f'    "{entry.type}": {service}.{entry.title},')
        lines.append("}")
    else:
        lines.append("MODELS: dict[str, type[BaseModel]] = {}")
    lines.append("")
    exported = ", ".join(f'"{name}"' for name in ["MODELS", *grouped])
    lines.append(f"__all__ = [{exported}]")
    return "\n".join(lines) + "\n"


def render_models(registry: SchemaRegistry) -> dict[Path, str]:
    grouped = _by_service(registry)
    outputs: dict[Path, str] = {GENERATED_DIR / "__init__.py": _models_index(grouped)}
    with tempfile.TemporaryDirectory(prefix="kommune-codegen-") as tmp:
        for service, entries in grouped.items():
            code = _run_codegen(_service_bundle(service, entries), service, Path(tmp))
            outputs[GENERATED_DIR / f"{service}.py"] = code
    return outputs


# -- AsyncAPI -----------------------------------------------------------------------------------


def _summary(text: str) -> str:
    first = text.strip().split("\n\n", 1)[0].replace("\n", " ")
    head, sep, _ = first.partition(". ")
    return head + "." if sep else first


def _example_subject(entry: EventSchema, payload: Any) -> str:
    if isinstance(payload, Mapping):
        for key in (f"{entry.name.aggregate}_id", "id"):
            value = payload.get(key)
            if isinstance(value, str | int) and str(value):
                return str(value)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.id}#subject"))


def example_headers(entry: EventSchema, payload: Any, index: int = 0) -> dict[str, str]:
    """The Kafka headers an example event would carry (deterministic, for the document)."""
    return {
        "ce_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.id}#example-{index}")),
        "ce_source": f"/kommune/{entry.service}",
        "ce_type": entry.type,
        "ce_specversion": SPECVERSION,
        "ce_time": EXAMPLE_TIME,
        "ce_subject": _example_subject(entry, payload),
        "ce_dataschema": entry.id,
        "ce_traceparent": EXAMPLE_TRACEPARENT,
        "content-type": CONTENT_TYPE,
    }


def _message(entry: EventSchema) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": entry.type,
        "title": entry.title,
        "summary": _summary(entry.description),
        "description": entry.description.strip(),
        "contentType": CONTENT_TYPE,
        "tags": [{"name": entry.service}],
        "traits": [{"$ref": f"#/components/messageTraits/{TRAIT}"}],
        "payload": {"$ref": f"./events/{entry.service}/{entry.type}.json"},
    }
    examples = [
        {
            "name": f"{entry.title}Example{index + 1}" if index else f"{entry.title}Example",
            "summary": f"A {entry.type} event",
            "headers": example_headers(entry, payload, index),
            "payload": payload,
        }
        for index, payload in enumerate(entry.examples)
    ]
    if examples:
        message["examples"] = examples
    return message


def _trait() -> dict[str, Any]:
    return {
        "summary": "CloudEvents 1.0 envelope in Kafka binary content mode.",
        "description": (
            "The record value is the event data (this message's payload) as plain JSON; the "
            "CloudEvents attributes are `ce_*` record headers; the record key is the aggregate "
            "id, so the events of one aggregate stay in order in one partition. Delivery is at "
            "least once: consumers deduplicate on `ce_id` (inbox) and park poison messages in "
            "their consumer group's own `<group>.<topic>.dlq`."
        ),
        "headers": CLOUDEVENTS_HEADERS_SCHEMA,
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The aggregate id (per-aggregate ordering).",
                },
                "bindingVersion": "0.5.0",
            }
        },
    }


def asyncapi_document(registry: SchemaRegistry) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, types in registry.topics().items():
        entries = [registry.get(event_type) for event_type in types]
        first = entries[0]
        service, aggregate = first.service, first.name.aggregate
        for entry in entries:
            messages[entry.title] = _message(entry)
        channels[topic] = {
            "address": topic,
            "title": f"{service}: {aggregate} events (v{first.name.version})",
            "description": (
                f"Events about the `{aggregate}` aggregate, published by the {service} service "
                f"through its transactional outbox. Key: the {aggregate} id. Messages a consumer "
                f"cannot process go to its group's own `<group>.{topic}.dlq`."
            ),
            "messages": {
                entry.title: {"$ref": f"#/components/messages/{entry.title}"} for entry in entries
            },
        }
        operations[f"{topic}.send"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "title": f"{service} publishes {aggregate} events",
            "summary": (
                f"The {service} service writes these events in the transaction of the change "
                "(outbox); its relay publishes them with an idempotent producer (acks=all)."
            ),
            "tags": [{"name": service}],
            "messages": [
                {"$ref": f"#/channels/{topic}/messages/{entry.title}"} for entry in entries
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Kommune events",
            "version": package_version("kommune-schemas"),
            "description": (
                "Every event the services of the Kommune platform (Digitale Kommune, city of "
                "Heidenheim) publish on Apache Kafka. Generated from the JSON Schemas in "
                "`schemas/events/` by `schemas/tools/generate.py`: do not edit; run "
                "`make schemas`.\n\n"
                "Topics are `<service>.<aggregate>.v<N>`; event types are "
                "`de.kommune.<service>.<aggregate>.<event>.v<N>`. Payload schemas are JSON "
                "Schema 2020-12 restricted to the subset AsyncAPI's default schema format reads "
                "the same way."
            ),
            "license": {
                "name": "EUPL-1.2",
                "url": "https://interoperable-europe.ec.europa.eu/collection/eupl/eupl-text-eupl-12",
            },
            "tags": [
                {"name": service, "description": f"Published by the {service} service."}
                for service in registry.services()
            ],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": LOCAL_KAFKA,
                "protocol": "kafka",
                "protocolVersion": KAFKA_VERSION,
                "title": "Local broker",
                "description": (
                    "The project-local Apache Kafka broker (KRaft, plaintext, loopback only) "
                    "that `make up` starts."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "messageTraits": {TRAIT: _trait()},
        },
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_asyncapi(registry: SchemaRegistry) -> str:
    body = yaml.dump(
        asyncapi_document(registry),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return (
        "# Generated from schemas/events by schemas/tools/generate.py: do not edit.\n"
        "# Regenerate with `make schemas`.\n" + body
    )


# -- event catalogue ----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node if isinstance(node, Mapping) else {}


def _type_label(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        target = _resolve(str(schema["$ref"]), root)
        return _type_label(target, root)
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return "one of " + ", ".join(
            f"`{json.dumps(v, ensure_ascii=False)}`" for v in schema["enum"]
        )
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(_type_label(option, root) for option in schema[combinator])
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    labels: list[str] = []
    for item in kinds:
        if item == "array":
            items = schema.get("items")
            inner = _type_label(items, root) if isinstance(items, Mapping) else "any"
            labels.append(f"array of {inner}")
        elif "format" in schema and item == "string":
            labels.append(f"string ({schema['format']})")
        else:
            labels.append(str(item))
    return " \\| ".join(labels)


def _field_description(prop: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """The property's description, followed by that of the named enum it refers to, if any.

    A shared enum (``$defs``) explains its values once; each field using it says what it means.
    """
    options = [prop, *(o for k in ("anyOf", "oneOf") for o in prop.get(k, []))]
    refs = [
        _resolve(str(o["$ref"]), root) for o in options if isinstance(o, Mapping) and "$ref" in o
    ]
    own = str(prop.get("description") or "")
    parts = [own] if own else []
    for target in refs:
        explained = str(target.get("description") or "")
        if explained and explained not in parts and ("enum" in target or not own):
            parts.append(explained)
    return " ".join(parts)


def _field_rows(
    schema: Mapping[str, Any], root: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> list[str]:
    if "$ref" in schema:
        schema = _resolve(str(schema["$ref"]), root)
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or depth > 6:
        return []
    required = set(schema.get("required", []))
    rows: list[str] = []
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        target = _resolve(str(prop["$ref"]), root) if "$ref" in prop else prop
        description = _field_description(prop, root)
        path = f"{prefix}{name}"
        rows.append(
            f"| `{path}` | {_type_label(prop, root)} | {'yes' if name in required else 'no'} "
            f"| {_cell(str(description))} |"
        )
        rows.extend(_field_rows(target, root, f"{path}.", depth + 1))
        items = target.get("items")
        if isinstance(items, Mapping):
            rows.extend(_field_rows(items, root, f"{path}[].", depth + 1))
    return rows


def _catalogue_entry(entry: EventSchema) -> list[str]:
    schema_link = f"../schemas/events/{entry.service}/{entry.type}.json"
    lines = [
        f"#### `{entry.type}`",
        "",
        f"**{entry.title}**: {_cell(entry.description)}",
        "",
        f"- Topic: `{entry.topic}`; producer: {entry.service}; Kafka key: the "
        f"{entry.name.aggregate} id",
        f"- Schema: [`schemas/events/{entry.service}/{entry.type}.json`]({schema_link}) "
        f"(`$id` {entry.id})",
        "",
    ]
    rows = _field_rows(entry.schema, entry.schema)
    if rows:
        lines += ["| Field | Type | Required | Description |", "|---|---|---|---|", *rows, ""]
    else:
        lines += ["The payload has no fields.", ""]
    for payload in entry.examples[:1]:
        lines += [
            "Example payload:",
            "",
            "```json",
            json.dumps(payload, indent=2, ensure_ascii=False),
            "```",
            "",
        ]
    return lines


def render_catalogue(registry: SchemaRegistry) -> str:
    header_schema = CLOUDEVENTS_HEADERS_SCHEMA["properties"]
    lines = [
        "<!-- Generated from schemas/events by schemas/tools/generate.py: do not edit. "
        "Regenerate with `make schemas`. -->",
        "",
        "# Event catalogue",
        "",
        "Every event the Kommune services publish on Kafka, generated from the JSON Schemas in",
        "[`schemas/events/`](../schemas/events/). The same contracts are described as an AsyncAPI",
        "3.0 document in [`schemas/asyncapi.yaml`](../schemas/asyncapi.yaml) and as pydantic",
        "models in `kommune_schemas.generated`. How to add an event:",
        "[CONTRIBUTING.md](../CONTRIBUTING.md#adding-an-event); why it works this way:",
        "[ADR 0004](adr/0004-cloudevents-envelope.md), [ADR 0007](adr/0007-event-contracts.md).",
        "",
        "## Envelope",
        "",
        "CloudEvents 1.0 in Kafka binary content mode: the record value is the payload described",
        "below (plain JSON), the record key is the aggregate id (events of one aggregate stay in",
        "order), and the CloudEvents attributes are record headers:",
        "",
        "| Header | Required | Description |",
        "|---|---|---|",
    ]
    for header, spec in header_schema.items():
        required = "yes" if header in REQUIRED_HEADERS else "no"
        lines.append(f"| `{header}` | {required} | {_cell(str(spec['description']))} |")
    lines += [
        "",
        "Delivery is at least once: a consumer records `ce_id` in its inbox in the transaction of",
        "its side effects, so a redelivered event has no second effect. A record it cannot",
        "process goes to its consumer group's own `<group>.<topic>.dlq` (another group that",
        "handled it never gets it back on a re-drive) with its original key, value and headers",
        "plus",
        "`kommune_dlq_*` headers (`error`, `error_type`, `reason`, `original_topic`,",
        "`original_partition`, `original_offset`, `consumer_group`), and the consumer moves on.",
        "",
        "Names: topic `<service>.<aggregate>.v<N>`, event type",
        "`de.kommune.<service>.<aggregate>.<event>.v<N>`, schema",
        "`https://kommune.heidenheim.de/schemas/events/<type>.json` (the `ce_dataschema` header).",
        "",
        "## Topics",
        "",
    ]
    topics = registry.topics()
    if not topics:
        lines += ["No event types are defined yet.", ""]
    else:
        lines += ["| Topic | Producer | Event types |", "|---|---|---|"]
        for topic, types in topics.items():
            producer = registry.get(types[0]).service
            listed = "<br>".join(f"[`{t}`](#{t.replace('.', '')})" for t in types)
            lines.append(f"| `{topic}` | {producer} | {listed} |")
        lines += ["", "## Events", ""]
        for service, entries in _by_service(registry).items():
            lines += [f"### {service}", ""]
            for entry in entries:
                lines += _catalogue_entry(entry)
    return "\n".join(lines).rstrip("\n") + "\n"


# -- driver -------------------------------------------------------------------------------------


def render_all(registry: SchemaRegistry) -> dict[Path, str]:
    """Every output file (path relative to the repository root) and its content."""
    found = contract_problems(registry)
    if found:
        raise ContractError(
            "the event schemas break the house rules:\n" + "\n".join(f"  - {p}" for p in found)
        )
    outputs = render_models(registry)
    outputs[ASYNCAPI_FILE] = render_asyncapi(registry)
    outputs[CATALOGUE_FILE] = render_catalogue(registry)
    return outputs


def _extra_generated(outputs: Mapping[Path, str], root: Path) -> list[Path]:
    directory = root / GENERATED_DIR
    if not directory.is_dir():
        return []
    return sorted(
        path.relative_to(root)
        for path in directory.glob("*.py")
        if path.relative_to(root) not in outputs
    )


def stale(outputs: Mapping[Path, str], root: Path = REPO_ROOT) -> list[str]:
    """Outputs whose committed file differs or is missing, and generated modules to delete."""
    found: list[str] = []
    for path, content in outputs.items():
        target = root / path
        if not target.exists():
            found.append(f"{path} is missing")
        elif target.read_text(encoding="utf-8") != content:
            found.append(f"{path} is out of date")
    found.extend(f"{path} is left over" for path in _extra_generated(outputs, root))
    return found


def write(outputs: Mapping[Path, str], root: Path = REPO_ROOT) -> list[Path]:
    changed: list[Path] = []
    for path, content in outputs.items():
        target = root / path
        if target.exists() and target.read_text(encoding="utf-8") == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        changed.append(path)
    for path in _extra_generated(outputs, root):
        (root / path).unlink()
        changed.append(path)
    return changed


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale outputs")
    parser.add_argument("--schemas", type=Path, default=SCHEMAS_DIR, help="event schema directory")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        outputs = render_all(SchemaRegistry(args.schemas))
    except (ContractError, SchemaLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        found = stale(outputs)
        if found:
            print("generated files are stale:", *found, f"run: {COMMAND}", sep="\n  ")
            return 1
        print(f"generated files are up to date ({len(outputs)} files)")
        return 0
    changed = write(outputs)
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(outputs)} files generated, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
