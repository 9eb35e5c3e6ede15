"""Search response model."""

from __future__ import annotations

import uuid

from kommune.schemas import OutputModel


class SearchHit(OutputModel):
    document_id: uuid.UUID
    file_id: uuid.UUID
    file_number: str
    title: str
    snippet: str
    """HTML-escaped text around the matches, each match in ``<mark>...</mark>``."""
