"""FAQ request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from kommune_ideas.schema_types import InputModel, OutputModel, VeryLongText

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
Position = Annotated[int, Field(ge=0, le=100_000, strict=True)]


class FaqCreate(InputModel):
    question: Question
    answer: VeryLongText
    position: Position | None = Field(default=None, description="Default: after the last entry.")


class FaqUpdate(InputModel):
    question: Question | None = None
    answer: VeryLongText | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> FaqUpdate:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None)
        if nulls:
            raise ValueError(f"These fields cannot be null: {', '.join(nulls)}.")
        return self


class FaqOut(OutputModel):
    id: uuid.UUID
    question: str
    answer: str
    position: int
    created_at: datetime
    updated_at: datetime
