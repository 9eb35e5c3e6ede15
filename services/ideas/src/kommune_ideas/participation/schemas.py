"""Participation response models."""

from __future__ import annotations

import uuid

from kommune_ideas.schema_types import OutputModel


class EndorsementOut(OutputModel):
    idea_id: uuid.UUID
    endorsed_by_me: bool
    endorsement_count: int
