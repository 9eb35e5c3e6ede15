"""Typed access to the generated pydantic models of the event payloads."""

from __future__ import annotations

from pydantic import BaseModel

from kommune_schemas.registry import EventContractError, default_registry


def model_for(event_type: str) -> type[BaseModel]:
    """The generated payload model of ``event_type`` (e.g. ``ideas.IdeaCreatedV1``).

    ``model_for(t).model_validate(payload)`` parses a consumed payload;
    ``Model(...).model_dump(mode="json")`` builds one to emit.
    """
    from kommune_schemas.generated import MODELS

    model = MODELS.get(event_type)
    if model is not None:
        return model
    default_registry().get(event_type)  # raises for an unknown or malformed type
    raise EventContractError(
        event_type, f"{event_type} has a schema but no generated model: run `make schemas`"
    )
