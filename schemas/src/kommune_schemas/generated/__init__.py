"""Pydantic models of the event payloads, generated from schemas/events: do not edit.

Regenerate with `make schemas`. One module per producing service; ``MODELS`` maps each
event type to its payload model (see ``kommune_schemas.model_for``).
"""

from __future__ import annotations

from pydantic import BaseModel

MODELS: dict[str, type[BaseModel]] = {}

__all__ = ["MODELS"]
