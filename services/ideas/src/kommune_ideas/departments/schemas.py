"""Department request/response models."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import StringConstraints

from kommune_ideas.schema_types import InputModel, OutputModel, ShortText

DepartmentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{1,39}$")
]


class DepartmentCreate(InputModel):
    code: DepartmentCode
    name: ShortText


class DepartmentOut(OutputModel):
    id: uuid.UUID
    code: str
    name: str
