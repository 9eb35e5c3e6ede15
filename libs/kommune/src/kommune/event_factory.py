"""One way to build a service's domain events: per aggregate, a factory bound to its topic.

The naming rules (``kommune_schemas.naming``) fix a type as
``de.kommune.<service>.<aggregate>.<event>.v<N>`` and its topic as ``<service>.<aggregate>.v<N>``.
A service declares one :class:`AggregateEvents` per aggregate and calls it with the type, the
aggregate's id and the payload (the model generated from the event's JSON Schema)::

    application_event = AggregateEvents("egov.application.v1", "application")

    await outbox.add(application_event(APPLICATION_SUBMITTED, application.id, payload))

A type that does not belong on the factory's topic is refused before anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kommune.events.outbox import DomainEvent
from kommune_schemas.naming import EventTypeName


@dataclass(frozen=True, slots=True)
class AggregateEvents:
    topic: str
    """``<service>.<aggregate>.v<N>``, as declared in the service's ``TopicSpec`` list."""
    aggregate_type: str
    """The outbox's ``aggregatetype`` (e.g. ``idea``, ``chronicle_entry``)."""

    def __call__(
        self,
        event_type: str,
        aggregate_id: uuid.UUID | str,
        payload: BaseModel | Mapping[str, Any],
        *,
        subject: str | None = None,
    ) -> DomainEvent:
        if EventTypeName.parse(event_type).topic != self.topic:
            raise ValueError(f"{event_type} does not belong on the topic {self.topic}")
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
        return DomainEvent(
            topic=self.topic,
            type=event_type,
            aggregate_type=self.aggregate_type,
            aggregate_id=str(aggregate_id),
            data=data,
            subject=subject,
        )
