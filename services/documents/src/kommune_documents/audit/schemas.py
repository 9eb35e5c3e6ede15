"""Audit trail response model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kommune.schemas import OutputModel


class AuditEventOut(OutputModel):
    id: int
    occurred_at: datetime
    actor: str
    actor_roles: str
    action: str
    outcome: str
    file_id: uuid.UUID | None
    document_id: uuid.UUID | None
    detail: dict[str, Any]
