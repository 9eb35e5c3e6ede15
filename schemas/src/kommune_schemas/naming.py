"""Event type names, topics and schema ids: the naming rules every event contract follows.

A type is ``de.kommune.<service>.<aggregate>.<event>.v<N>``; its topic is
``<service>.<aggregate>.v<N>`` and its JSON Schema's ``$id`` is
``https://kommune.heidenheim.de/schemas/events/<type>.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMA_BASE = "https://kommune.heidenheim.de/schemas/events/"
"""Prefix of every event schema ``$id`` (and of the ``ce_dataschema`` header)."""

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every event schema."""

TYPE_PATTERN = re.compile(
    r"^de\.kommune"
    r"\.(?P<service>[a-z][a-z0-9]*)"
    r"\.(?P<aggregate>[a-z][a-z0-9_]*)"
    r"\.(?P<event>[a-z][a-z0-9_]*)"
    r"\.v(?P<version>[1-9][0-9]*)$"
)
"""``de.kommune.<service>.<aggregate>.<event>.v<N>``; ``_`` is allowed after the service."""

TYPE_REGEX = r"^de\.kommune\.[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$"
"""The same rule as an ECMA-262 regular expression, for JSON Schema ``pattern``."""

TOPIC_PATTERN = re.compile(
    r"^(?P<service>[a-z][a-z0-9]*)\.(?P<aggregate>[a-z][a-z0-9_]*)\.v[1-9][0-9]*$"
)

TITLE_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9]*V(?P<version>[1-9][0-9]*)$")
"""PascalCase ending in the version, e.g. ``IdeaCreatedV1``."""


class InvalidEventTypeError(ValueError):
    """The string is not a well-formed Kommune event type."""

    def __init__(self, event_type: str) -> None:
        super().__init__(
            f"{event_type!r} is not a Kommune event type: expected "
            "'de.kommune.<service>.<aggregate>.<event>.v<N>' in lower case, "
            "e.g. 'de.kommune.ideas.idea.created.v1'"
        )
        self.event_type = event_type


@dataclass(frozen=True, slots=True)
class EventTypeName:
    """The parts of an event type."""

    service: str
    aggregate: str
    event: str
    version: int

    @classmethod
    def parse(cls, event_type: str) -> EventTypeName:
        match = TYPE_PATTERN.match(event_type)
        if match is None:
            raise InvalidEventTypeError(event_type)
        return cls(
            service=match["service"],
            aggregate=match["aggregate"],
            event=match["event"],
            version=int(match["version"]),
        )

    @property
    def type(self) -> str:
        return f"de.kommune.{self.service}.{self.aggregate}.{self.event}.v{self.version}"

    @property
    def topic(self) -> str:
        """``<service>.<aggregate>.v<N>``: every version of an aggregate's events has its topic."""
        return f"{self.service}.{self.aggregate}.v{self.version}"

    @property
    def schema_id(self) -> str:
        return schema_id_for(self.type)

    @property
    def suggested_title(self) -> str:
        """``<Aggregate><Event>V<N>`` in PascalCase, e.g. ``IdeaCreatedV1``."""
        return f"{pascal_case(self.aggregate)}{pascal_case(self.event)}V{self.version}"


def pascal_case(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


def derive_topic(event_type: str) -> str:
    """The topic of any well-formed event type (known to the registry or not)."""
    return EventTypeName.parse(event_type).topic


def schema_id_for(event_type: str) -> str:
    """The ``$id`` of an event type's schema; also the value of its ``ce_dataschema`` header."""
    return f"{SCHEMA_BASE}{event_type}.json"
