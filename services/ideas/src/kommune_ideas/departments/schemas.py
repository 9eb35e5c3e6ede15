"""Department request/response models."""

from __future__ import annotations

import uuid
from typing import Annotated

from kommune.schemas import CODE_PATTERN, Identifier
from kommune_ideas.schema_types import InputModel, OutputModel, Text

DepartmentCode = Annotated[str, Identifier(2, 40, CODE_PATTERN)]
"""ASCII letters, digits, ``-``, ``_``; NFKC-normalised, case-folded (``Amt-32``: ``amt-32``)."""


class DepartmentCreate(InputModel):
    code: DepartmentCode
    name: Annotated[str, Text(1, 120)]


class DepartmentOut(OutputModel):
    id: uuid.UUID
    code: str
    name: str
