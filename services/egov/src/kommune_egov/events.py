"""The events of the egov service: topics, types and payloads (one JSON Schema per type).

Produced (``schemas/events/egov/``, models generated into ``kommune_schemas.generated.egov``):

* ``egov.service.v1``: ``de.kommune.egov.service.published.v1`` when an e-service goes live
  (the ideas chronicle announces it to staff);
* ``egov.application.v1``: ``submitted`` and ``status_changed`` of an application (the documents
  service files each submitted application; no personal data of the applicant in the payload).

Consumed: ``documents.filing.v1`` (the file number of the case) and ``sensors.alert.v1`` (a work
order in the caseworkers' queue). Both are declared here too so that the consumers can subscribe
before their producers ever started (creation is idempotent; the declarations are the same).
"""

from __future__ import annotations

from kommune.event_factory import AggregateEvents
from kommune.events.outbox import declare_outbox_topics
from kommune.events.topics import DAY_MS, TopicSpec

SOURCE = "/kommune/egov"

SERVICE_TOPIC = "egov.service.v1"
APPLICATION_TOPIC = "egov.application.v1"
FILING_TOPIC = "documents.filing.v1"
"""Consumed, owned by documents: an application was filed into the E-Akte."""
SENSOR_ALERT_TOPIC = "sensors.alert.v1"
"""Consumed, owned by sensors: a waste container is full, a schoolyard is busy at night."""

SERVICE_PUBLISHED = "de.kommune.egov.service.published.v1"
APPLICATION_SUBMITTED = "de.kommune.egov.application.submitted.v1"
APPLICATION_STATUS_CHANGED = "de.kommune.egov.application.status_changed.v1"
FILING_FILED = "de.kommune.documents.filing.filed.v1"
SENSOR_ALERT_RAISED = "de.kommune.sensors.alert.raised.v1"
SENSOR_ALERT_RESOLVED = "de.kommune.sensors.alert.resolved.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(name=SERVICE_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(name=APPLICATION_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
)
"""Declared and created by this service."""
declare_outbox_topics(SOURCE, TOPICS)  # its outbox refuses any other topic


def consumed_topics() -> tuple[TopicSpec, ...]:
    """Topics of other services egov reads (their owners declare them the same way)."""
    return (
        TopicSpec(name=FILING_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
        TopicSpec(name=SENSOR_ALERT_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
    )


def declared_topics() -> tuple[TopicSpec, ...]:
    """Every topic the service ensures at start: its own and those it consumes. The app and the
    Kubernetes KafkaTopic renderer (``k8s/tools/render_topics.py``) both read this."""
    return (*TOPICS, *consumed_topics())


service_event = AggregateEvents(SERVICE_TOPIC, "service")
application_event = AggregateEvents(APPLICATION_TOPIC, "application")
"""``application_event(APPLICATION_SUBMITTED, application.id, payload)`` -> a DomainEvent."""
