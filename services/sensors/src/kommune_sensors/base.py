"""The sensors service's declarative base: its tables live in its own metadata."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from kommune.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
