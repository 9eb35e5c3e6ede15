"""Operator commands for the event plumbing: parked outbox rows and dead letters.

::

    python -m kommune.events.admin outbox parked  --database-url URL [--limit N]
    python -m kommune.events.admin outbox redrive --database-url URL (--id UUID ... | --all)
    python -m kommune.events.admin dlq list    --bootstrap-servers HOST:PORT --group G --topic T
    python -m kommune.events.admin dlq redrive --bootstrap-servers HOST:PORT --group G --topic T
                                               (--offset N ... | --all)

``--database-url`` defaults to ``$DATABASE_URL``, ``--bootstrap-servers`` to
``$KAFKA_BOOTSTRAP_SERVERS``, ``--topic-prefix`` to ``$KOMMUNE_KAFKA_TOPIC_PREFIX``. Output is
one JSON object per line (for ``jq``).

* ``outbox parked`` lists rows the relay set aside after too many failed sends (oldest first)
  with their last error; ``outbox redrive`` puts them back in line (attempts and backoff reset)
  and wakes the relay. Fix the cause first (create the topic, raise the broker's size limit):
  a row that fails again is parked again after the same number of attempts.
* ``dlq list`` shows a consumer group's dead letters for one topic (``<group>.<topic>.dlq``)
  with the error headers; ``dlq redrive`` produces the chosen ones back to the original topic
  with their key, value and original headers. The group handles them again (it never claimed
  them in its inbox); other groups of that topic skip them as duplicates by their inbox.
  Re-driven records go to the end of their partition: order relative to later events of the
  same aggregate is not restored. A dead letter is not removed (topics are append-only); the
  redrive prints the offsets it sent, and the DLQ's retention ages them out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

import asyncpg  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kommune.db import asyncpg_dsn
from kommune.events.consumer import DLQ_HEADER_PREFIX
from kommune.events.outbox import OUTBOX_CHANNEL
from kommune.events.shutdown import stop_kafka_client
from kommune.events.topics import TopicNamespace, dead_letter_topic

_PARKED = """
SELECT id, aggregatetype, aggregateid, type, topic, attempts, last_error, created_at, parked_at
FROM outbox WHERE parked_at IS NOT NULL
ORDER BY seq LIMIT $1
"""
_REDRIVE = """
UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = NULL, last_error = NULL
WHERE parked_at IS NOT NULL AND ($1::boolean OR id = ANY($2::uuid[]))
RETURNING id
"""


async def outbox_parked(database_url: str, limit: int) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(_PARKED, limit)
    finally:
        await conn.close()
    return [{key: _jsonable(value) for key, value in row.items()} for row in rows]


def _jsonable(value: object) -> object:
    return value if isinstance(value, int | str | None) else str(value)


async def outbox_redrive(
    database_url: str, ids: Sequence[uuid.UUID], *, everything: bool
) -> list[str]:
    if not ids and not everything:
        raise ValueError("name the rows (--id) or pass --all")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            rows = await conn.fetch(_REDRIVE, everything, list(ids))
            await conn.execute(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')")
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]


async def _read_dlq(bootstrap_servers: str, physical_dlq: str, *, limit: int) -> list[Any]:
    """Every record of the (one-partition) dead-letter topic from the start, up to ``limit``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        metadata = await consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(physical_dlq)
        if not partitions:
            raise LookupError(f"dead-letter topic {physical_dlq!r} does not exist")
        tps = [TopicPartition(physical_dlq, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        for tp in tps:
            while await consumer.position(tp) < end[tp] and len(records) < limit:
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=500)
                for record in batch.get(tp, []):
                    if record.offset < end[tp] and len(records) < limit:
                        records.append(record)
        return records
    finally:
        await stop_kafka_client("dlq reader", consumer, within=5.0)


def _describe_dead_letter(record: Any) -> dict[str, Any]:
    headers = {key: value.decode(errors="replace") for key, value in record.headers}
    return {
        "offset": record.offset,
        "key": record.key.decode(errors="replace") if record.key is not None else None,
        "ce_id": headers.get("ce_id"),
        "ce_type": headers.get("ce_type"),
        **{
            key.removeprefix(DLQ_HEADER_PREFIX): value
            for key, value in headers.items()
            if key.startswith(DLQ_HEADER_PREFIX)
        },
    }


async def dlq_list(
    bootstrap_servers: str, group: str, topic: str, *, prefix: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """The group's dead letters of ``topic`` (logical names), oldest first."""
    physical = TopicNamespace(prefix).topic(dead_letter_topic(group, topic))
    records = await _read_dlq(bootstrap_servers, physical, limit=limit)
    return [_describe_dead_letter(record) for record in records]


async def dlq_redrive(
    bootstrap_servers: str,
    group: str,
    topic: str,
    offsets: Sequence[int],
    *,
    everything: bool,
    prefix: str = "",
) -> list[int]:
    """Produce the chosen dead letters back to their original topic; return their offsets."""
    if not offsets and not everything:
        raise ValueError("name the dead letters (--offset) or pass --all")
    namespace = TopicNamespace(prefix)
    physical = namespace.topic(dead_letter_topic(group, topic))
    records = await _read_dlq(bootstrap_servers, physical, limit=sys.maxsize)
    chosen = [r for r in records if everything or r.offset in set(offsets)]
    missing = set(offsets) - {r.offset for r in chosen}
    if missing:
        raise LookupError(f"no dead letter at offset(s) {sorted(missing)} of {physical}")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=True, client_id="kommune-admin"
    )
    await producer.start()
    try:
        for record in chosen:
            headers = [(k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]
            original = dict(record.headers).get(f"{DLQ_HEADER_PREFIX}original_topic")
            target = original.decode() if original else namespace.topic(topic)
            await producer.send_and_wait(target, record.value, key=record.key, headers=headers)
    finally:
        await stop_kafka_client("dlq redrive producer", producer, within=10.0)
    return [record.offset for record in chosen]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kommune.events.admin", description=(__doc__ or "").split("\n\n")[0]
    )
    areas = parser.add_subparsers(dest="area", required=True)

    outbox = areas.add_parser("outbox", help="parked outbox rows")
    outbox_commands = outbox.add_subparsers(dest="command", required=True)
    for name in ("parked", "redrive"):
        command = outbox_commands.add_parser(name)
        command.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
        if name == "parked":
            command.add_argument("--limit", type=int, default=100)
        else:
            command.add_argument("--id", dest="ids", type=uuid.UUID, action="append", default=[])
            command.add_argument("--all", dest="everything", action="store_true")

    dlq = areas.add_parser("dlq", help="a consumer group's dead letters")
    dlq_commands = dlq.add_subparsers(dest="command", required=True)
    for name in ("list", "redrive"):
        command = dlq_commands.add_parser(name)
        command.add_argument(
            "--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        )
        command.add_argument(
            "--topic-prefix", default=os.environ.get("KOMMUNE_KAFKA_TOPIC_PREFIX", "")
        )
        command.add_argument("--group", required=True, help="the logical consumer group id")
        command.add_argument("--topic", required=True, help="the logical topic it consumed")
        if name == "list":
            command.add_argument("--limit", type=int, default=1000)
        else:
            command.add_argument("--offset", dest="offsets", type=int, action="append", default=[])
            command.add_argument("--all", dest="everything", action="store_true")
    return parser


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command; print JSON lines to ``out``; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.area == "outbox":
            if not args.database_url:
                parser.error("--database-url (or DATABASE_URL) is required")
            if args.command == "parked":
                lines: list[Any] = await outbox_parked(args.database_url, args.limit)
            else:
                ids = await outbox_redrive(args.database_url, args.ids, everything=args.everything)
                lines = [{"redriven": ids}]
        else:
            if not args.bootstrap_servers:
                parser.error("--bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) is required")
            if args.command == "list":
                lines = await dlq_list(
                    args.bootstrap_servers,
                    args.group,
                    args.topic,
                    prefix=args.topic_prefix,
                    limit=args.limit,
                )
            else:
                offsets = await dlq_redrive(
                    args.bootstrap_servers,
                    args.group,
                    args.topic,
                    args.offsets,
                    everything=args.everything,
                    prefix=args.topic_prefix,
                )
                lines = [{"redriven_offsets": offsets}]
    except (ValueError, LookupError) as exc:
        print(json.dumps({"error": str(exc)}), file=out)
        return 2
    for line in lines:
        print(json.dumps(line, ensure_ascii=False), file=out)
    return 0


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
