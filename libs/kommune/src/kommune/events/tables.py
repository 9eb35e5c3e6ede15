"""The outbox and inbox tables, defined once and added to each service's own metadata.

Every service keeps its tables in its own ``MetaData`` (:func:`kommune.db.new_metadata`); the
event tables are the same everywhere, so they are declared here once, mapped for the library's
own use (``OutboxMessage``, ``InboxMessage``), and copied into a service's metadata by
:func:`add_event_tables`, which is what its Alembic migrations are compared against.
"""

from __future__ import annotations

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from kommune.db import new_metadata

OUTBOX_TABLE = "outbox"
INBOX_TABLE = "inbox"


class EventTablesBase(DeclarativeBase):
    """The library's mapping of the event tables (a metadata of their own, never shared)."""

    metadata = new_metadata()


def add_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add ``outbox`` and ``inbox`` to a service's metadata (idempotent); return them."""
    # Imported here: the modules define the mapped classes on EventTablesBase.
    from kommune.events.inbox import InboxMessage
    from kommune.events.outbox import OutboxMessage

    copies = []
    for table in (OutboxMessage.__table__, InboxMessage.__table__):
        assert isinstance(table, Table)
        existing = metadata.tables.get(table.name)
        copies.append(existing if existing is not None else table.to_metadata(metadata))
    return copies[0], copies[1]
