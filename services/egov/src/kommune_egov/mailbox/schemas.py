"""REST contracts of the mailbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, computed_field

from kommune.schemas import InputModel, OutputModel


class MessageOut(OutputModel):
    id: uuid.UUID
    application_id: uuid.UUID
    kind: str = Field(description="`submitted`, `status_changed` or `info_requested`.")
    subject: str
    body: str
    attachment_id: uuid.UUID | None = Field(
        description="A document for you (GET /api/v1/attachments/{id}), e.g. the permit."
    )
    created_at: datetime
    read_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def read(self) -> bool:
        return self.read_at is not None


class MessageUpdate(InputModel):
    read: bool
