"""The event schema registry: every JSON Schema shipped in ``schemas/events/``, loaded once.

Files live at ``events/<service>/<event type>.json``. In the workspace (editable install) they are
read from ``schemas/events`` next to this package's ``src``; a built wheel (and so a Docker image)
carries them as ``kommune_schemas/events`` (hatch ``force-include``). Either way
:func:`default_registry` finds them.

Validators are built once per event type and cached; ``format`` is checked (``date-time`` with an
offset, ``uuid``, ``uri``, ...). Payloads must be JSON-compatible (what the outbox stores), or a
pydantic model, which is dumped in JSON mode first.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from kommune_schemas.envelope import CLOUDEVENTS_HEADERS_SCHEMA
from kommune_schemas.formats import FORMAT_CHECKER
from kommune_schemas.naming import EventTypeName, InvalidEventTypeError, schema_id_for

_PACKAGE_DIR = Path(__file__).resolve().parent
_MAX_REPORTED_ERRORS = 20


class EventContractError(ValueError):
    """An event does not match its contract (or has none).

    ``errors`` lists each violation as ``<json path>: <message>``.
    """

    def __init__(self, event_type: str, message: str, errors: Sequence[str] = ()) -> None:
        self.event_type = event_type
        self.errors: tuple[str, ...] = tuple(errors)
        text = message
        if self.errors:
            text += "\n" + "\n".join(f"  - {error}" for error in self.errors)
        super().__init__(text)


class SchemaLoadError(RuntimeError):
    """A schema file is unreadable, misplaced, or not a valid JSON Schema."""


@dataclass(frozen=True, slots=True)
class EventSchema:
    """One event type's contract, as loaded from its file."""

    name: EventTypeName
    path: Path
    schema: Mapping[str, Any] = field(repr=False)

    @property
    def type(self) -> str:
        return self.name.type

    @property
    def service(self) -> str:
        return self.name.service

    @property
    def topic(self) -> str:
        return self.name.topic

    @property
    def id(self) -> str:
        return str(self.schema.get("$id", ""))

    @property
    def title(self) -> str:
        return str(self.schema.get("title", ""))

    @property
    def description(self) -> str:
        return str(self.schema.get("description", ""))

    @property
    def examples(self) -> list[Any]:
        examples = self.schema.get("examples", [])
        return list(examples) if isinstance(examples, list) else []


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(errors: Iterator[ValidationError]) -> list[str]:
    ordered = sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    lines = [f"{_json_path(error)}: {error.message}" for error in ordered[:_MAX_REPORTED_ERRORS]]
    if len(ordered) > _MAX_REPORTED_ERRORS:
        lines.append(f"... and {len(ordered) - _MAX_REPORTED_ERRORS} more")
    return lines


class SchemaRegistry:
    """The event types found under one directory, with cached validators."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._schemas: dict[str, EventSchema] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self._load()
        self._resources: Registry[Any] = Registry().with_resources(
            (
                entry.id or schema_id_for(entry.type),
                Resource.from_contents(dict(entry.schema), default_specification=DRAFT202012),
            )
            for entry in self._schemas.values()
        )
        self._headers_validator = Draft202012Validator(
            CLOUDEVENTS_HEADERS_SCHEMA, format_checker=FORMAT_CHECKER
        )

    def _load(self) -> None:
        if not self.root.is_dir():
            raise SchemaLoadError(f"event schema directory {self.root} does not exist")
        for path in sorted(self.root.rglob("*.json")):
            relative = path.relative_to(self.root)
            if len(relative.parts) != 2:
                raise SchemaLoadError(
                    f"{path}: event schemas live at <schemas dir>/<service>/<event type>.json"
                )
            try:
                name = EventTypeName.parse(path.stem)
            except InvalidEventTypeError as exc:
                raise SchemaLoadError(f"{path}: file name is not an event type: {exc}") from exc
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SchemaLoadError(f"{path}: cannot read JSON: {exc}") from exc
            if not isinstance(schema, dict):
                raise SchemaLoadError(f"{path}: a schema must be a JSON object")
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise SchemaLoadError(
                    f"{path}: not a valid JSON Schema 2020-12: {exc.message}"
                ) from exc
            if name.type in self._schemas:
                raise SchemaLoadError(
                    f"{path}: event type {name.type} is also defined in "
                    f"{self._schemas[name.type].path}"
                )
            self._schemas[name.type] = EventSchema(name=name, path=path, schema=schema)

    # -- lookup -----------------------------------------------------------------------------

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._schemas

    def __iter__(self) -> Iterator[EventSchema]:
        return iter(self._schemas[key] for key in sorted(self._schemas))

    def __len__(self) -> int:
        return len(self._schemas)

    def known_types(self) -> tuple[str, ...]:
        """Every event type with a schema, sorted."""
        return tuple(sorted(self._schemas))

    def services(self) -> tuple[str, ...]:
        return tuple(sorted({entry.service for entry in self._schemas.values()}))

    def topics(self) -> dict[str, tuple[str, ...]]:
        """Topic -> the event types published on it, both sorted."""
        result: dict[str, list[str]] = {}
        for entry in self:
            result.setdefault(entry.topic, []).append(entry.type)
        return {topic: tuple(types) for topic, types in sorted(result.items())}

    def get(self, event_type: str) -> EventSchema:
        entry = self._schemas.get(event_type)
        if entry is not None:
            return entry
        try:
            name = EventTypeName.parse(event_type)
        except InvalidEventTypeError as exc:
            raise EventContractError(event_type, str(exc)) from exc
        raise EventContractError(
            event_type,
            f"unknown event type {event_type!r}: there is no schema "
            f"{name.service}/{event_type}.json in {self.root} "
            f"(every emitted event needs one, see CONTRIBUTING.md)",
        )

    def schema_for(self, event_type: str) -> dict[str, Any]:
        """A copy of the JSON Schema of ``event_type``."""
        return copy.deepcopy(dict(self.get(event_type).schema))

    def topic_for(self, event_type: str) -> str:
        """The Kafka topic of a known event type (``<service>.<aggregate>.v<N>``)."""
        return self.get(event_type).topic

    # -- validation -------------------------------------------------------------------------

    def validator_for(self, event_type: str) -> Draft202012Validator:
        validator = self._validators.get(event_type)
        if validator is None:
            entry = self.get(event_type)
            validator = Draft202012Validator(
                dict(entry.schema), registry=self._resources, format_checker=FORMAT_CHECKER
            )
            self._validators[event_type] = validator
        return validator

    def errors(self, event_type: str, payload: Mapping[str, Any] | BaseModel) -> list[str]:
        """Every way ``payload`` violates the schema of ``event_type`` (empty when valid)."""
        instance = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        try:
            return _describe(self.validator_for(event_type).iter_errors(instance))
        except Unresolvable as exc:
            raise EventContractError(
                event_type,
                f"the schema of {event_type} has a $ref that cannot be resolved: {exc} "
                "(event schemas must be self-contained)",
            ) from exc

    def validate(self, event_type: str, payload: Mapping[str, Any] | BaseModel) -> None:
        """Raise :class:`EventContractError` unless ``payload`` is valid for ``event_type``."""
        problems = self.errors(event_type, payload)
        if problems:
            raise EventContractError(
                event_type,
                f"payload of {event_type} does not match {self.get(event_type).id}:",
                problems,
            )

    def header_errors(self, event_type: str, headers: Mapping[str, Any]) -> list[str]:
        """Every way ``headers`` are not the CloudEvents envelope of an ``event_type`` event."""
        entry = self.get(event_type)
        problems = _describe(self._headers_validator.iter_errors(dict(headers)))
        if headers.get("ce_type") not in (None, event_type):
            problems.append(f"$.ce_type: {headers['ce_type']!r} is not {event_type!r}")
        expected_schema = entry.id or schema_id_for(event_type)
        if headers.get("ce_dataschema") not in (None, expected_schema):
            problems.append(
                f"$.ce_dataschema: {headers['ce_dataschema']!r} is not {expected_schema!r}"
            )
        return problems

    def validate_headers(self, event_type: str, headers: Mapping[str, Any]) -> None:
        """Raise :class:`EventContractError` unless ``headers`` are a valid envelope."""
        problems = self.header_errors(event_type, headers)
        if problems:
            raise EventContractError(
                event_type,
                f"headers of {event_type} are not a valid CloudEvents envelope:",
                problems,
            )


# -- the shipped schemas ------------------------------------------------------------------------


def _shipped_path(name: str) -> Path:
    """``name`` inside the installed package (wheel), else in the ``schemas/`` source tree."""
    packaged = _PACKAGE_DIR / name
    if packaged.exists():
        return packaged
    return _PACKAGE_DIR.parent.parent / name


def default_schema_dir() -> Path:
    return _shipped_path("events")


def asyncapi_path() -> Path:
    """The generated AsyncAPI 3.0 document describing every topic and message."""
    return _shipped_path("asyncapi.yaml")


@cache
def default_registry() -> SchemaRegistry:
    """The registry of the schemas shipped with this package (loaded on first use)."""
    return SchemaRegistry(default_schema_dir())


def known_types() -> tuple[str, ...]:
    return default_registry().known_types()


def schema_for(event_type: str) -> dict[str, Any]:
    return default_registry().schema_for(event_type)


def topic_for(event_type: str) -> str:
    return default_registry().topic_for(event_type)


def validate(event_type: str, payload: Mapping[str, Any] | BaseModel) -> None:
    default_registry().validate(event_type, payload)


def validate_headers(event_type: str, headers: Mapping[str, Any]) -> None:
    default_registry().validate_headers(event_type, headers)
