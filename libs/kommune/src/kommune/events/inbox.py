"""The consumer inbox: one row per (consumer group, event id), written with the handler's effects.

Kafka delivers at least once (a consumer may die after its transaction committed but before the
offset commit; the relay may publish a row twice if it dies between broker ack and its own commit).
Like the tracking table of pyeventsourcing's process recorders, the inbox row is inserted in the
*same* transaction as the side effects, so the primary key turns a redelivery into a no-op. Unlike
a tracking table we key by ``ce_id`` rather than by a position: Kafka offsets are per partition and
the relay may re-publish an event at a new offset, but its ``ce_id`` never changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, DateTime, Integer, String, delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kommune.events.tables import INBOX_TABLE, EventTablesBase


class InboxMessage(EventTablesBase):
    __tablename__ = INBOX_TABLE

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Text, not uuid: ce_id is any non-empty string by the CloudEvents spec.
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str | None] = mapped_column(String(255))
    partition: Mapped[int | None] = mapped_column(Integer)
    offset: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


async def claim(
    session: AsyncSession,
    consumer_group: str,
    event_id: str,
    *,
    event_type: str = "",
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> bool:
    """Record the event in the caller's transaction: True the first time, False for a redelivery.

    A concurrent claim of the same event (a rebalance handing the partition to another member)
    waits on the first transaction's row lock and then returns False if that one committed.
    """
    statement = (
        insert(InboxMessage)
        .values(
            consumer_group=consumer_group,
            event_id=event_id,
            event_type=event_type,
            topic=topic,
            partition=partition,
            offset=offset,
        )
        .on_conflict_do_nothing(index_elements=["consumer_group", "event_id"])
        .returning(InboxMessage.event_id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none() is not None


async def prune(session: AsyncSession, consumer_group: str, older_than: timedelta) -> int:
    """Forget the group's inbox rows older than ``older_than``; return how many went.

    Choose it well beyond the topics' retention: a record older than that cannot be redelivered,
    so its row can no longer prevent anything. (A record re-driven from the DLQ has no row.)
    """
    result = await session.execute(
        delete(InboxMessage).where(
            InboxMessage.consumer_group == consumer_group,
            InboxMessage.received_at < func.now() - older_than,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
