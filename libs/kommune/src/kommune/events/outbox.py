"""The transactional outbox: a domain change and its event are written in one transaction.

Columns follow Debezium's outbox event router (``id, aggregatetype, aggregateid, type, payload``)
plus the CloudEvents attributes in ``headers`` and the relay's bookkeeping (``attempts``,
``last_error``, ``next_attempt_at``, ``parked_at``). Every row is unsent: the relay
(:mod:`kommune.events.relay`) deletes a row once Kafka acknowledged it; ``pg_notify`` wakes it
once the row commits.

:meth:`Outbox.add` enforces two rules so that no service has to remember them:

* **Only declared topics.** A service declares the topics it produces
  (:func:`declare_outbox_topics`, next to its ``TopicSpec``s); an event for any other topic is
  refused with :class:`UndeclaredTopicError` before anything is written: a typo would otherwise
  sit in the outbox, unsendable. A source that declared nothing may write nothing.
* **Writers of one aggregate are serialised.** ``add`` takes a transaction-scoped advisory lock
  on the aggregate id (``pg_advisory_xact_lock``) before the row gets its ``seq``: a second
  transaction writing an event of the same aggregate waits until the first commits or rolls
  back, so ``seq`` order is commit order within an aggregate, which is the order the relay
  publishes. (Concurrent writers of *different* aggregates do not wait for each other.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kommune.events.tables import OUTBOX_TABLE, EventTablesBase
from kommune.events.topics import TopicSpec
from kommune.telemetry.context import current_traceparent

OUTBOX_CHANNEL = "kommune_outbox"
SPECVERSION = "1.0"
SCHEMA_BASE = "https://kommune.heidenheim.de/schemas/events/"


class OutboxMessage(EventTablesBase):
    __tablename__ = OUTBOX_TABLE

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Monotonic insert sequence: orders rows of one aggregate (not used as a relay cursor).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    aggregatetype: Mapped[str] = mapped_column(String(255))
    aggregateid: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Not before this time again (exponential backoff after a failure).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set aside after too many failures; its aggregate waits until an operator re-drives it.
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The relay's "is an earlier row of this aggregate failing?" probe; usually empty.
        # (The relay reads the queue in ``seq`` order through the unique index on ``seq``.)
        Index("ix_outbox_failing", "aggregateid", "seq", postgresql_where=text("attempts > 0")),
    )


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """What a service says happened, before it is put in the envelope.

    ``topic`` is ``<service>.<aggregate>.v<N>``; ``type`` is
    ``de.kommune.<service>.<aggregate>.<event>.v<N>``; the Kafka key is ``aggregate_id``.
    """

    topic: str
    type: str
    aggregate_type: str
    aggregate_id: str
    data: Mapping[str, Any]
    subject: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


def dataschema_for(event_type: str) -> str:
    return f"{SCHEMA_BASE}{event_type}.json"


def cloudevent_headers(event: DomainEvent, source: str) -> dict[str, str]:
    headers = {
        "ce_specversion": SPECVERSION,
        "ce_id": str(event.id),
        "ce_source": source,
        "ce_type": event.type,
        "ce_time": event.time.isoformat(),
        "ce_subject": event.subject or event.aggregate_id,
        "ce_dataschema": dataschema_for(event.type),
        "content-type": "application/json",
    }
    traceparent = current_traceparent()
    if traceparent:
        headers["ce_traceparent"] = traceparent
    return headers


def jsonable(data: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    from fastapi.encoders import jsonable_encoder

    result: dict[str, Any] = jsonable_encoder(dict(data))
    return result


class UndeclaredTopicError(ValueError):
    """An event for a topic its service has not declared (a bug: nothing is written)."""


_DECLARED: dict[str, frozenset[str]] = {}


def declare_outbox_topics(source: str, topics: Iterable[TopicSpec | str]) -> None:
    """Declare the (logical) topics that the service with CloudEvents ``source`` produces.

    Call it once where the service declares its topics; declaring again adds to the set.
    """
    names = {topic.name if isinstance(topic, TopicSpec) else topic for topic in topics}
    _DECLARED[source] = _DECLARED.get(source, frozenset()) | names


def declared_outbox_topics(source: str) -> frozenset[str]:
    return _DECLARED.get(source, frozenset())


_LOCK_AND_NOTIFY = text(
    f"SELECT pg_advisory_xact_lock(hashtextextended(:key, 0)), pg_notify('{OUTBOX_CHANNEL}', '')"
)


def aggregate_lock_key(aggregate_id: str) -> str:
    """The text hashed into the aggregate's advisory lock key (namespaced: no other lock
    of the platform hashes text with this prefix)."""
    return f"kommune.outbox.aggregate:{aggregate_id}"


class Outbox:
    """Writes events into the caller's transaction; never commits."""

    def __init__(self, session: AsyncSession, source: str) -> None:
        self._session = session
        self._source = source

    async def add(self, event: DomainEvent) -> None:
        """Add ``event`` to the caller's transaction (see the module docstring for the rules).

        Raises :class:`UndeclaredTopicError` for a topic the source has not declared.
        """
        declared = _DECLARED.get(self._source, frozenset())
        if event.topic not in declared:
            raise UndeclaredTopicError(
                f"topic {event.topic!r} is not declared for source {self._source!r} "
                f"(declared: {sorted(declared) or 'none'}); declare it with "
                "kommune.events.outbox.declare_outbox_topics"
            )
        # Lock first, then insert: the row's seq is drawn after the aggregate's earlier writers
        # committed. NOTIFY is delivered by PostgreSQL only when (and if) the transaction commits.
        await self._session.execute(
            _LOCK_AND_NOTIFY, {"key": aggregate_lock_key(event.aggregate_id)}
        )
        self._session.add(
            OutboxMessage(
                id=event.id,
                aggregatetype=event.aggregate_type,
                aggregateid=event.aggregate_id,
                type=event.type,
                topic=event.topic,
                payload=jsonable(event.data),
                headers=cloudevent_headers(event, self._source),
            )
        )  # inserted at the next flush (at the latest the commit), still under the lock
