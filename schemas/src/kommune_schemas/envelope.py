"""The CloudEvents 1.0 Kafka binary-mode envelope: which ``ce_*`` headers every event carries.

The Kafka record value is the plain domain JSON (validated by the event type's schema); the
CloudEvents attributes travel as headers. This schema is the one place they are described: the
AsyncAPI document embeds it as the ``CloudEventsKafkaBinary`` message trait and
:meth:`kommune_schemas.registry.SchemaRegistry.validate_headers` checks outbox rows against it.
"""

from __future__ import annotations

from typing import Any

from kommune_schemas.naming import SCHEMA_BASE, TYPE_REGEX

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

REQUIRED_HEADERS: tuple[str, ...] = (
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_specversion",
    "ce_time",
    "ce_subject",
    "ce_dataschema",
)

CLOUDEVENTS_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "CloudEvents 1.0 attributes in Kafka binary content mode: one record header per "
        "attribute, prefixed `ce_`. The record key is the aggregate id, the record value the "
        "event data (the message payload)."
    ),
    "required": list(REQUIRED_HEADERS),
    "properties": {
        "ce_id": {
            "type": "string",
            "minLength": 1,
            "description": "Unique id of the event (a UUID); consumers deduplicate on it (inbox).",
        },
        "ce_source": {
            "type": "string",
            "minLength": 1,
            "format": "uri-reference",
            "description": "The producing service, e.g. `/kommune/ideas`.",
        },
        "ce_type": {
            "type": "string",
            "pattern": TYPE_REGEX,
            "description": "Event type, `de.kommune.<service>.<aggregate>.<event>.v<N>`.",
        },
        "ce_specversion": {
            "type": "string",
            "const": SPECVERSION,
            "description": "CloudEvents specification version.",
        },
        "ce_time": {
            "type": "string",
            "format": "date-time",
            "description": "When the change happened, RFC 3339 with offset.",
        },
        "ce_subject": {
            "type": "string",
            "minLength": 1,
            "description": "The aggregate the event is about (its id unless stated otherwise).",
        },
        "ce_dataschema": {
            "type": "string",
            "format": "uri",
            "pattern": "^" + SCHEMA_BASE.replace(".", r"\.") + r".+\.json$",
            "description": f"`$id` of the JSON Schema of the payload: `{SCHEMA_BASE}<type>.json`.",
        },
        "ce_traceparent": {
            "type": "string",
            "pattern": TRACEPARENT_PATTERN,
            "description": "W3C trace context of the request that caused the event (optional).",
        },
        "content-type": {
            "type": "string",
            "const": CONTENT_TYPE,
            "description": "CloudEvents `datacontenttype`; the payload is JSON.",
        },
    },
}
"""JSON Schema (draft-07 compatible) of the Kafka headers of every Kommune event."""
