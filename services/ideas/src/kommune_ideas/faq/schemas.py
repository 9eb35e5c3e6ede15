"""FAQ request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from kommune.schemas import PatchModel
from kommune_ideas.schema_types import InputModel, OutputModel, Text, VeryLongText

Question = Annotated[str, Text(3, 300)]
Position = Annotated[int, Field(ge=0, le=100_000, strict=True)]


class FaqCreate(InputModel):
    question: Question
    answer: VeryLongText
    position: Position | None = Field(default=None, description="Default: after the last entry.")


class FaqUpdate(PatchModel):
    question: Question | None = None
    answer: VeryLongText | None = None
    position: Position | None = None


class FaqOut(OutputModel):
    id: uuid.UUID
    question: str
    answer: str
    position: int
    created_at: datetime
    updated_at: datetime
