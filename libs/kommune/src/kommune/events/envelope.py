"""CloudEvents 1.0 in Kafka *binary content mode*: the codec every producer and consumer shares.

The record value is the plain domain JSON, the CloudEvents attributes travel as ``ce_*`` headers
(plus ``content-type: application/json``) and the key is the aggregate id, so Kafka keeps the
events of one aggregate in order.

Why not ``cloudevents.core.bindings.kafka`` for decoding: its ``from_binary`` builds a
``CloudEvent`` whose constructor *invents* a fresh ``id`` and ``time`` when the headers lack them,
and its JSON format quietly hands back a ``str`` when the value is not JSON. A consumer that
deduplicates by ``ce_id`` must reject both, so this module checks the headers itself; the tests
check that what we encode is read back identically by the ``cloudevents`` binding (interop).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kommune.events.outbox import SPECVERSION, DomainEvent, cloudevent_headers, jsonable

CONTENT_TYPE_HEADER = "content-type"
JSON_CONTENT_TYPE = "application/json"
REQUIRED_ATTRIBUTES = ("ce_id", "ce_source", "ce_type", "ce_specversion")
"""The CloudEvents 1.0 required attributes, as Kafka header names."""


class PoisonMessage(ValueError):  # noqa: N818 (the platform's name for it)
    """A record that can never be handled (not a CloudEvent, or not JSON): it goes to the DLQ."""


class KafkaRecord(Protocol):
    """The part of ``aiokafka.structs.ConsumerRecord`` that :func:`decode` reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A decoded event as a consumer's handler sees it."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    dataschema: str | None
    traceparent: str | None
    data: dict[str, Any]
    key: str | None
    topic: str
    """The LOGICAL topic (``ideas.idea.v1``) when a :class:`~kommune.events.consumer.ConsumerRunner`
    delivers the event (it strips its namespace's prefix); :func:`decode` alone keeps the record's
    topic as Kafka named it (the physical name, e.g. in test probes)."""
    partition: int
    offset: int
    headers: Mapping[str, str] = field(default_factory=dict)
    """Every header of the record, decoded as UTF-8 (``ce_*``, ``content-type`` and any other)."""


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """What goes to Kafka: ``producer.send(topic, value, key=key, headers=headers)``."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Outbox ``headers`` (str → str) as Kafka record headers."""
    return [(name, value.encode()) for name, value in headers.items()]


def encode_value(data: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the record value of binary mode."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def encode(event: DomainEvent, source: str) -> EncodedEvent:
    """Encode a domain event for a direct send (no outbox), e.g. high-volume sensor readings."""
    return EncodedEvent(
        key=event.aggregate_id.encode(),
        value=encode_value(jsonable(event.data)),
        headers=encode_headers(cloudevent_headers(event, source)),
    )


def _parse_time(value: str) -> datetime:
    # RFC 3339; Python 3.11's fromisoformat accepts the "Z" suffix.
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("ce_time has no UTC offset")
    return parsed


def decode(record: KafkaRecord) -> ReceivedEvent:
    """Decode a binary-mode record; raise :class:`PoisonMessage` for anything unusable."""
    try:
        headers = {name.lower(): raw.decode() for name, raw in record.headers}
    except UnicodeDecodeError as exc:
        raise PoisonMessage(f"a header is not UTF-8: {exc}") from exc
    missing = [name for name in REQUIRED_ATTRIBUTES if not headers.get(name)]
    if missing:
        raise PoisonMessage(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    if headers["ce_specversion"] != SPECVERSION:
        raise PoisonMessage(f"unsupported ce_specversion {headers['ce_specversion']!r}")
    content_type = headers.get(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
    if content_type.split(";", 1)[0].strip().lower() != JSON_CONTENT_TYPE:
        raise PoisonMessage(f"unsupported content-type {content_type!r}")
    if not record.value:
        raise PoisonMessage("empty value (a tombstone is not an event)")
    try:
        data = json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"value is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PoisonMessage(f"value is JSON {type(data).__name__}, expected an object")
    time: datetime | None = None
    if headers.get("ce_time"):
        try:
            time = _parse_time(headers["ce_time"])
        except ValueError as exc:
            raise PoisonMessage(f"ce_time is not RFC 3339: {headers['ce_time']!r}") from exc
    try:
        key = record.key.decode() if record.key is not None else None
    except UnicodeDecodeError as exc:
        raise PoisonMessage("key is not UTF-8") from exc
    return ReceivedEvent(
        id=headers["ce_id"],
        type=headers["ce_type"],
        source=headers["ce_source"],
        subject=headers.get("ce_subject"),
        time=time,
        dataschema=headers.get("ce_dataschema"),
        traceparent=headers.get("ce_traceparent"),
        data=data,
        key=key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        headers=headers,
    )
