"""REST contracts of uploads."""

from __future__ import annotations

import uuid
from datetime import datetime

from kommune.schemas import OutputModel


class AttachmentOut(OutputModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
