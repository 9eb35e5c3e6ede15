"""The transactional outbox: a domain change and its event are written in one transaction.

Columns follow Debezium's outbox event router (``id, aggregatetype, aggregateid, type, payload``)
plus the CloudEvents attributes in ``headers`` and the relay's ``published_at``. The relay
(:mod:`kommune.events.relay`) publishes unsent rows; ``pg_notify`` wakes it once the row commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kommune.db import Base
from kommune.telemetry.context import current_traceparent

OUTBOX_CHANNEL = "kommune_outbox"
SPECVERSION = "1.0"
SCHEMA_BASE = "https://kommune.heidenheim.de/schemas/events/"


class OutboxMessage(Base):
    __tablename__ = "outbox"

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
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
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


class Outbox:
    """Writes events into the caller's transaction; never commits."""

    def __init__(self, session: AsyncSession, source: str) -> None:
        self._session = session
        self._source = source

    async def add(self, event: DomainEvent) -> None:
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
        )
        # Delivered by PostgreSQL only when (and if) the transaction commits.
        await self._session.execute(text(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"))
