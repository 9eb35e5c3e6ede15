"""The documents service's declarative base: its tables live in its own metadata.

Never the platform's or another service's: several services may be loaded into one process
(end-to-end tests), and their table names must not meet. ``kommune_documents.models`` adds the
outbox and inbox tables to this metadata.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from kommune.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
