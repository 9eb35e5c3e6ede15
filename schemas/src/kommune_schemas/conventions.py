"""The house rules of an event schema, beyond being valid JSON Schema.

Checked by ``schemas/tests`` for every shipped file and by ``schemas/tools/generate.py`` before it
generates anything, so a broken contract is reported with its file and rule, never half-generated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kommune_schemas.naming import JSON_SCHEMA_DIALECT, TITLE_PATTERN, schema_id_for
from kommune_schemas.registry import EventContractError, EventSchema, SchemaRegistry

NON_PORTABLE_KEYWORDS = frozenset(
    {
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "minContains",
        "maxContains",
    }
)
"""JSON Schema 2020-12 keywords that AsyncAPI 3.0 tooling (JSON Schema draft-07 based) ignores.

Event schemas stay in the subset both read the same way, so the AsyncAPI document can reference the
files in its default schema format (see docs/adr/0007-event-contracts.md).
"""

_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_SINGLE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _subschemas(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for key in _SUBSCHEMA_MAPS:
        children = schema.get(key)
        if isinstance(children, Mapping):
            for name, child in children.items():
                if isinstance(child, Mapping):
                    yield from _subschemas(child, f"{path}/{key}/{name}")
    for key in _SUBSCHEMA_LISTS:
        children = schema.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                if isinstance(child, Mapping):
                    yield from _subschemas(child, f"{path}/{key}/{index}")
    for key in _SUBSCHEMA_SINGLE:
        child = schema.get(key)
        if isinstance(child, Mapping):
            yield from _subschemas(child, f"{path}/{key}")


def _is_object_schema(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def problems(entry: EventSchema, registry: SchemaRegistry) -> list[str]:
    """Every house rule ``entry`` breaks, as ``<rule>: <detail>`` (empty when it follows them).

    ``registry`` is the one ``entry`` was loaded into; it validates the examples.
    """
    schema = entry.schema
    name = entry.name
    found: list[str] = []

    if entry.path.parent.name != name.service:
        found.append(
            f"location: {entry.path.name} belongs in a folder named {name.service!r}, "
            f"not {entry.path.parent.name!r}"
        )
    if schema.get("$schema") != JSON_SCHEMA_DIALECT:
        found.append(f"$schema: must be {JSON_SCHEMA_DIALECT!r}")
    expected_id = schema_id_for(name.type)
    if schema.get("$id") != expected_id:
        found.append(f"$id: must be {expected_id!r} (the file name), got {schema.get('$id')!r}")

    title = schema.get("title")
    match = TITLE_PATTERN.match(title) if isinstance(title, str) else None
    if match is None:
        found.append(
            f"title: must be PascalCase ending in the version, e.g. {name.suggested_title!r}"
        )
    elif int(match["version"]) != name.version:
        found.append(f"title: {title!r} must end in V{name.version}, the version of the type")

    if not isinstance(schema.get("description"), str) or not schema["description"].strip():
        found.append("description: say what happened, for the event catalogue")
    if schema.get("type") != "object":
        found.append("type: the payload must be an object")
    if schema.get("additionalProperties") is not False:
        found.append("additionalProperties: must be false (unknown fields are rejected)")
    if not isinstance(schema.get("required"), list):
        found.append("required: list the required fields (an empty list if none are)")

    for path, subschema in _subschemas(schema, "#"):
        for keyword in sorted(NON_PORTABLE_KEYWORDS & subschema.keys()):
            found.append(f"portability: {path} uses {keyword!r}, which AsyncAPI tooling ignores")
        ref = subschema.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.append(
                f"self-contained: {path} refers to {ref!r}; put shared parts in this file's $defs"
            )
        properties = subschema.get("properties")
        if isinstance(properties, Mapping):
            for prop, prop_schema in properties.items():
                if isinstance(prop_schema, Mapping) and not (
                    prop_schema.get("description") or "$ref" in prop_schema
                ):
                    found.append(f"description: {path}/properties/{prop} has no description")
        if (
            path != "#"
            and _is_object_schema(subschema)
            and "properties" in subschema
            and subschema.get("additionalProperties") is not False
        ):
            found.append(f"additionalProperties: {path} must set it to false")

    examples = schema.get("examples")
    if not isinstance(examples, list) or not examples:
        found.append("examples: give one example payload")
    else:
        for index, example in enumerate(examples):
            try:
                errors = registry.errors(entry.type, example)
            except EventContractError as exc:
                found.append(f"examples: cannot be checked: {exc}")
                break
            found.extend(f"examples: example {index} is invalid at {error}" for error in errors)
    return found


def registry_problems(entries: Iterable[EventSchema]) -> list[str]:
    """Rules across files.

    Titles are unique (they name models and AsyncAPI messages). A shared definition (a ``$defs``
    entry used by several files of a service, such as an enum of statuses) is written the same way
    in every file: each file stays self-contained, and the generator turns the identical copies
    into one class of ``kommune_schemas.generated.<service>`` (a copy that differs would become a
    second class with a made-up name). Definitions are matched by the name they generate: their
    ``title``, else their ``$defs`` key.
    """
    seen: dict[str, EventSchema] = {}
    definitions: dict[tuple[str, str], tuple[EventSchema, Any]] = {}
    found: list[str] = []
    for entry in entries:
        previous = seen.get(entry.title)
        if previous is not None and entry.title:
            found.append(
                f"title: {entry.title!r} is used by {previous.type} and {entry.type}; "
                "titles name the generated models and AsyncAPI messages, so must be unique"
            )
        seen.setdefault(entry.title, entry)
        defs = entry.schema.get("$defs")
        if not isinstance(defs, Mapping):
            continue
        for key, definition in defs.items():
            title = definition.get("title") if isinstance(definition, Mapping) else None
            name = title if isinstance(title, str) and title else str(key)
            first = definitions.setdefault((entry.service, name), (entry, definition))
            if first[1] != definition:
                found.append(
                    f"$defs: {name!r} in {entry.type} differs from {name!r} in {first[0].type}; "
                    f"a definition shared by the {entry.service} schemas must be identical in "
                    f"every file (it becomes one class of kommune_schemas.generated."
                    f"{entry.service})"
                )
    return found
