"""Readings to Kafka: one record per datastream (and chunk), keyed by the datastream.

The request waits for the broker's acknowledgement of every record (idempotent producer,
``acks=all``) before it answers 202: a reading the device was told is accepted is on the broker.
The producer connects in the background, so the service starts (and serves the registry) while
Kafka is down; ingestion answers 503 until it is up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from kommune.errors import ServiceUnavailable
from kommune.events.envelope import EncodedEvent, encode_headers, encode_value
from kommune.events.outbox import cloudevent_headers
from kommune.events.shutdown import stop_kafka_client
from kommune.events.topics import TopicNamespace
from kommune_sensors.events import (
    OBSERVATION_TOPIC,
    OBSERVATIONS_RECORDED,
    SOURCE,
    observation_event,
)
from kommune_sensors.ingestion.validation import Reading

log = structlog.get_logger(__name__)

MAX_RECORD_BYTES = 512 * 1024
"""A record's readings are cut below this (the broker's default limit is 1 MiB per batch)."""
READING_OVERHEAD = 80
"""Bytes of JSON per reading besides its parameters (time, result, field names)."""


def chunks(readings: list[Reading]) -> Iterator[tuple[int, list[Reading]]]:
    """Readings grouped by datastream, cut into records below :data:`MAX_RECORD_BYTES`."""
    by_stream: dict[int, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_stream[reading.datastream_id].append(reading)
    for stream_id, group in by_stream.items():
        chunk: list[Reading] = []
        size = 0
        for reading in group:
            cost = READING_OVERHEAD + reading.parameters_size
            if chunk and size + cost > MAX_RECORD_BYTES:
                yield stream_id, chunk
                chunk, size = [], 0
            chunk.append(reading)
            size += cost
        yield stream_id, chunk


def payload(stream_id: int, readings: list[Reading]) -> dict[str, object]:
    """The ``de.kommune.sensors.observation.recorded.v1`` data."""
    return {
        "datastream_id": stream_id,
        "observations": [
            {
                "phenomenon_time": r.time_text,
                "result": r.result,
                "parameters": r.parameters,
            }
            for r in readings
        ],
    }


class ObservationProducer:
    def __init__(self, bootstrap_servers: str, topic_prefix: str, timeout: float) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = TopicNamespace(topic_prefix).topic(OBSERVATION_TOPIC)
        self._timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="sensors-producer-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                enable_idempotence=True,  # acks=all
                linger_ms=2,
                max_batch_size=1024 * 1024,
                max_request_size=1024 * 1024,
                request_timeout_ms=int(self._timeout * 1000),
            )
            try:
                await producer.start()
            except Exception as error:  # the broker is down: try again, serve the rest
                log.warning("producer_connect_failed", error=type(error).__name__, retry_in=delay)
                await stop_kafka_client("observation producer", producer, within=2.0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._producer = producer
            self._ready.set()
            return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._producer is not None:
            await stop_kafka_client("observation producer", self._producer, within=5.0)

    async def send(self, readings: list[Reading]) -> int:
        """Produce ``readings``; return the number of records once the broker acked them all."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._ready.wait()
                assert self._producer is not None
                pending = []
                for stream_id, chunk in chunks(readings):
                    event = observation_event(
                        OBSERVATIONS_RECORDED, str(stream_id), payload(stream_id, chunk)
                    )
                    # Not kommune.events.envelope.encode: its jsonable_encoder walk cost ~6 ms
                    # per 1,000 readings; the payload is JSON-safe already (from JSON).
                    encoded = EncodedEvent(
                        key=event.aggregate_id.encode(),
                        value=encode_value(event.data),
                        headers=encode_headers(cloudevent_headers(event, SOURCE)),
                    )
                    pending.append(
                        await self._producer.send(
                            self._topic, encoded.value, key=encoded.key, headers=encoded.headers
                        )
                    )
                await asyncio.gather(*pending)
        except (TimeoutError, KafkaError):
            raise ServiceUnavailable(
                "The readings could not be handed to the message broker in time; send them again "
                "(a reading sent twice is stored once)."
            ) from None
        return len(pending)
