"""The chronicle writes itself: entries from the service's own and other services' events.

* ``ideas.idea.v1`` / ``status_changed`` → an entry when an idea is implemented, and when the
  leaders decided on an idea that was up for decision;
* ``egov.service.v1`` / ``de.kommune.egov.service.published.v1`` → an announcement that a new
  e-service is live.

The consumer runner claims the inbox row ``(group, ce_id)`` in the same transaction as the entry,
so a redelivered event writes nothing; the entry's unique ``source_event_id`` says the same in the
data itself. Payloads are read tolerantly (unknown fields ignored): producers may add fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import structlog
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.events.consumer import ConsumerSpec
from kommune.events.envelope import ReceivedEvent
from kommune_ideas import events
from kommune_ideas.chronicle.models import EntryKind
from kommune_ideas.chronicle.service import ChronicleService
from kommune_ideas.ideas.models import Idea
from kommune_ideas.ideas.workflow import GERMAN_LABELS, IdeaStatus
from kommune_ideas.settings import IdeasSettings

log = structlog.get_logger(__name__)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StatusChanged(_Tolerant):
    idea_id: uuid.UUID
    title: Annotated[str, Field(min_length=1, max_length=500)]
    from_status: IdeaStatus
    to_status: IdeaStatus
    note: str
    reason: str | None = None


class ServicePublished(_Tolerant):
    """What the chronicle needs of ``de.kommune.egov.service.published.v1``."""

    service_id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=200)]
    summary: Annotated[str, Field(max_length=2000)] | None = None
    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2000)] | None = None
    published_at: datetime | None = None


async def on_status_changed(session: AsyncSession, event: ReceivedEvent) -> None:
    data = StatusChanged.model_validate(event.data)
    if await session.get(Idea, data.idea_id) is None:
        # Not an idea of this database: an event another environment (a test run, another
        # checkout) published on the same broker. Our own events always find their idea: the
        # outbox row commits with it.
        log.warning("chronicle_unknown_idea_skipped", idea_id=str(data.idea_id), event_id=event.id)
        return
    chronicle = ChronicleService(session)
    if data.to_status == IdeaStatus.IMPLEMENTED:
        await chronicle.publish_automatic(
            kind=EntryKind.IDEA_IMPLEMENTED,
            title=f"Umgesetzt: {data.title}",
            body=f"Die Idee „{data.title}“ ist umgesetzt.\n\n{data.note}",
            idea_id=data.idea_id,
            source_event_id=event.id,
        )
    elif data.from_status == IdeaStatus.FOR_DECISION:
        label = GERMAN_LABELS[data.to_status]
        if data.to_status == IdeaStatus.REJECTED:
            verdict = (
                f"wird nicht weiterverfolgt ({label}). Begründung: {data.reason or 'keine Angabe'}"
            )
        else:
            verdict = f"wird umgesetzt ({label})"
        await chronicle.publish_automatic(
            kind=EntryKind.DECISION_TAKEN,
            title=f"Entscheidung: {data.title}",
            body=(
                f"Die Teilprojektleitung hat entschieden: Die Idee „{data.title}“ {verdict}."
                f"\n\n{data.note}"
            ),
            idea_id=data.idea_id,
            source_event_id=event.id,
        )


async def on_service_published(session: AsyncSession, event: ReceivedEvent) -> None:
    data = ServicePublished.model_validate(event.data)
    body = (
        data.summary or "Der Online-Dienst steht Bürgerinnen und Bürgern ab sofort zur Verfügung."
    )
    await ChronicleService(session).publish_automatic(
        kind=EntryKind.ANNOUNCEMENT,
        title=f"Neuer Online-Dienst: {data.name}",
        body=body,
        link_url=str(data.url) if data.url else None,
        source_event_id=event.id,
    )


HANDLERS = {
    events.IDEA_STATUS_CHANGED: on_status_changed,
    events.EGOV_SERVICE_PUBLISHED: on_service_published,
}


async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
    handler = HANDLERS.get(event.type)
    if handler is not None:
        await handler(session, event)


def chronicle_consumer(settings: IdeasSettings) -> ConsumerSpec:
    return ConsumerSpec(
        group_id=f"{settings.consumer_group_prefix}.chronicle",
        topics=(events.IDEA_TOPIC, settings.egov_service_topic),
        handler=handle,
        event_types=frozenset(HANDLERS),
    )
