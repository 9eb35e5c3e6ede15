"""Kommune event contracts: one JSON Schema per event type, and what is generated from them.

The public API::

    from kommune_schemas import validate, schema_for, topic_for, known_types, EventContractError

    validate("de.kommune.ideas.idea.created.v1", payload)   # raises EventContractError
    topic_for("de.kommune.ideas.idea.created.v1")           # "ideas.idea.v1"

Generated pydantic models live in :mod:`kommune_schemas.generated` (one module per service);
the AsyncAPI 3.0 document is :func:`asyncapi_path`.
"""

from kommune_schemas.envelope import CLOUDEVENTS_HEADERS_SCHEMA, REQUIRED_HEADERS, SPECVERSION
from kommune_schemas.models import model_for
from kommune_schemas.naming import (
    SCHEMA_BASE,
    EventTypeName,
    InvalidEventTypeError,
    derive_topic,
    schema_id_for,
)
from kommune_schemas.registry import (
    EventContractError,
    EventSchema,
    SchemaLoadError,
    SchemaRegistry,
    asyncapi_path,
    default_registry,
    default_schema_dir,
    known_types,
    schema_for,
    topic_for,
    validate,
    validate_headers,
)

__all__ = [
    "CLOUDEVENTS_HEADERS_SCHEMA",
    "REQUIRED_HEADERS",
    "SCHEMA_BASE",
    "SPECVERSION",
    "EventContractError",
    "EventSchema",
    "EventTypeName",
    "InvalidEventTypeError",
    "SchemaLoadError",
    "SchemaRegistry",
    "asyncapi_path",
    "default_registry",
    "default_schema_dir",
    "derive_topic",
    "known_types",
    "model_for",
    "schema_for",
    "schema_id_for",
    "topic_for",
    "validate",
    "validate_headers",
]
