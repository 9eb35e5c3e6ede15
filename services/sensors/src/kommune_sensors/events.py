"""The events of the sensors service: topics, types and payloads (one JSON Schema per type).

``sensors.observation.v1`` carries the readings from the ingestion API to the writers: produced
directly (not through the outbox: the readings are not in the database yet, the writers put them
there), one record per datastream and request, keyed by the datastream, so one writer owns a
datastream and its roll-up and "latest" rows. It has many partitions so that writers scale out
(a consumer group cannot use more consumers than partitions; the KEDA ScaledObject is capped
there). ``sensors.alert.v1`` goes through the outbox (the alert row and its event commit together).
"""

from __future__ import annotations

from kommune.event_factory import AggregateEvents
from kommune.events.outbox import declare_outbox_topics
from kommune.events.topics import DAY_MS, TopicSpec
from kommune_schemas.generated.sensors import (
    AlertKind,
    AlertRaisedV1,
    AlertResolvedV1,
    ObservationsRecordedV1,
    Reading,
)

__all__ = [
    "ALERT_RAISED",
    "ALERT_RESOLVED",
    "ALERT_TOPIC",
    "EMITTED_TYPES",
    "OBSERVATIONS_RECORDED",
    "OBSERVATION_PARTITIONS",
    "OBSERVATION_TOPIC",
    "SOURCE",
    "TOPICS",
    "AlertKind",
    "AlertRaisedV1",
    "AlertResolvedV1",
    "ObservationsRecordedV1",
    "Reading",
    "alert_event",
    "declared_topics",
    "observation_event",
]

SOURCE = "/kommune/sensors"

OBSERVATION_TOPIC = "sensors.observation.v1"
ALERT_TOPIC = "sensors.alert.v1"

OBSERVATIONS_RECORDED = "de.kommune.sensors.observation.recorded.v1"
ALERT_RAISED = "de.kommune.sensors.alert.raised.v1"
ALERT_RESOLVED = "de.kommune.sensors.alert.resolved.v1"

EMITTED_TYPES: tuple[str, ...] = (OBSERVATIONS_RECORDED, ALERT_RAISED, ALERT_RESOLVED)

OBSERVATION_PARTITIONS = 12
"""Up to 12 writers in parallel; the KEDA ScaledObject's maxReplicaCount is this number."""

TOPICS: tuple[TopicSpec, ...] = (
    # Kafka is the buffer between the devices and PostgreSQL, not the archive: 3 days cover a
    # weekend-long database outage.
    TopicSpec(name=OBSERVATION_TOPIC, partitions=OBSERVATION_PARTITIONS, retention_ms=3 * DAY_MS),
    TopicSpec(name=ALERT_TOPIC, partitions=3, retention_ms=30 * DAY_MS),
)
"""Declared and created by this service."""

# Only alerts go through the outbox; its relay refuses every other topic.
declare_outbox_topics(SOURCE, (TOPICS[1],))


def declared_topics() -> tuple[TopicSpec, ...]:
    """Every topic the service ensures at start (the app and ``k8s/tools/render_topics.py``)."""
    return TOPICS


observation_event = AggregateEvents(OBSERVATION_TOPIC, "datastream")
alert_event = AggregateEvents(ALERT_TOPIC, "alert")
