"""The ideas service's text types: the shared ones from :mod:`kommune.schemas`, plus its own.

Kept as the place the domain packages import from; the rules (control characters, NFC, folding
of tags and codes, bounded dates) live in ``kommune.schemas`` for every service.
"""

from __future__ import annotations

from typing import Annotated

from kommune.schemas import (
    InputModel,
    LongText,
    Note,
    OutputModel,
    PersonOut,
    ShortText,
    SubjectId,
    Text,
    Title,
    VeryLongText,
)

CommentBody = Annotated[str, Text(1, 10_000, multi_line=True)]

__all__ = [
    "CommentBody",
    "InputModel",
    "LongText",
    "Note",
    "OutputModel",
    "PersonOut",
    "ShortText",
    "SubjectId",
    "Text",
    "Title",
    "VeryLongText",
]
