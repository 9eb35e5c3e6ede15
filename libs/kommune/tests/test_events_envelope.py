"""The CloudEvents binary-mode codec: what crosses real Kafka comes back intact; junk is poison."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from kommune.events.envelope import PoisonMessage, decode, encode, encode_headers
from kommune.events.outbox import DomainEvent, cloudevent_headers
from kommune.telemetry.context import traceparent_var
from kommune.testing.infra import KafkaProbe


def _event() -> DomainEvent:
    return DomainEvent(
        topic="unused",
        type="de.kommune.egov.request.submitted.v1",
        aggregate_type="request",
        aggregate_id=str(uuid.uuid4()),
        data={"title": "Sperrmüll abholen", "count": 3, "nested": {"ok": True}},
        time=datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
    )


def _record(
    headers: dict[str, str] | list[tuple[str, bytes]],
    value: bytes | None = b"{}",
    key: bytes | None = b"k",
) -> ConsumerRecord[bytes, bytes]:
    raw = encode_headers(headers) if isinstance(headers, dict) else headers
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=raw,
    )


def _good_headers() -> dict[str, str]:
    return {
        "ce_id": "1",
        "ce_source": "/egov",
        "ce_type": "de.kommune.x.v1",
        "ce_specversion": "1.0",
        "content-type": "application/json",
    }


async def test_round_trip_through_kafka(kafka_bootstrap_servers: str, kafka_topic) -> None:  # type: ignore[no-untyped-def]
    topic = await kafka_topic("envelope")
    domain = _event()
    token = traceparent_var.set("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    try:
        encoded = encode(domain, "/egov")
    finally:
        traceparent_var.reset(token)
    async with KafkaProbe(kafka_bootstrap_servers, topic) as probe:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                topic, encoded.value, key=encoded.key, headers=encoded.headers
            )
        finally:
            await producer.stop()
        [record] = await probe.records()

    names = {name for name, _ in record.headers}
    assert names >= {
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_traceparent",
        "content-type",
    }
    received = decode(record)
    assert received.id == str(domain.id)
    assert received.type == domain.type
    assert received.source == "/egov"
    assert received.subject == domain.aggregate_id
    assert received.time == domain.time
    assert received.dataschema is not None
    assert received.dataschema.endswith(f"{domain.type}.json")
    assert received.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert received.data == {"title": "Sperrmüll abholen", "count": 3, "nested": {"ok": True}}
    assert received.key == domain.aggregate_id
    assert (received.topic, received.offset) == (topic, record.offset)
    assert received.headers["content-type"] == "application/json"


def test_the_cloudevents_sdk_reads_what_we_write() -> None:
    """Interop: the official binding parses our headers into the same attributes."""
    domain = _event()
    encoded = encode(domain, "/egov")
    message = KafkaMessage(headers=dict(encoded.headers), key=encoded.key, value=encoded.value)
    parsed = from_binary_event(message)
    assert parsed.get_id() == str(domain.id)
    assert parsed.get_type() == domain.type
    assert parsed.get_source() == "/egov"
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_subject() == domain.aggregate_id
    assert parsed.get_time() == domain.time
    assert parsed.get_datacontenttype() == "application/json"
    assert parsed.get_data() == dict(domain.data)
    assert parsed.get_extension("partitionkey") == domain.aggregate_id


def test_outbox_headers_are_what_the_relay_sends() -> None:
    headers = cloudevent_headers(_event(), "/egov")
    assert decode(_record(headers, b'{"a": 1}')).data == {"a": 1}


@pytest.mark.parametrize(
    ("change", "value", "message"),
    [
        ({"ce_id": None}, b"{}", "ce_id"),
        ({"ce_type": None}, b"{}", "ce_type"),
        ({"ce_source": None}, b"{}", "ce_source"),
        ({"ce_specversion": None}, b"{}", "ce_specversion"),
        ({"ce_type": ""}, b"{}", "ce_type"),
        ({"ce_specversion": "0.3"}, b"{}", "specversion"),
        ({"content-type": "text/plain"}, b"{}", "content-type"),
        ({"ce_time": "yesterday"}, b"{}", "ce_time"),
        ({"ce_time": "2025-03-01T08:30:00"}, b"{}", "ce_time"),
        ({}, b"not json", "not JSON"),
        ({}, b"\xff\xfe", "not JSON"),
        ({}, b"[1, 2]", "expected an object"),
        ({}, None, "empty"),
    ],
)
def test_poison(change: dict[str, str | None], value: bytes | None, message: str) -> None:
    headers = _good_headers()
    for name, new in change.items():
        if new is None:
            headers.pop(name)
        else:
            headers[name] = new
    with pytest.raises(PoisonMessage, match=message):
        decode(_record(headers, value))


def test_non_utf8_header_is_poison() -> None:
    headers = [*encode_headers(_good_headers()), ("ce_subject", b"\xff")]
    with pytest.raises(PoisonMessage, match="UTF-8"):
        decode(_record(headers))


def test_optional_attributes_may_be_absent() -> None:
    received = decode(_record(_good_headers(), b'{"x": 1}', key=None))
    assert (received.subject, received.time, received.dataschema, received.traceparent) == (
        None,
        None,
        None,
        None,
    )
    assert received.key is None
    assert received.data == {"x": 1}
