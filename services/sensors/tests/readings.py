"""Readings straight into the tables through the writer's own statement (no Kafka round trip):
what the simulator and the analytics tests need, with the roll-ups and latest values the real
writer keeps."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from kommune.db import asyncpg_dsn
from kommune.testing.service import Db, Personas
from kommune_sensors.ingestion.writer import Row, Stored, store


async def store_readings(db: Db, readings: Iterable[tuple[int, datetime, float]]) -> Stored:
    rows: list[Row] = [(stream, when, float(value), None) for stream, when, value in readings]
    conn = await asyncpg.connect(asyncpg_dsn(db.url), server_settings={"timezone": "UTC"})
    try:
        return await store(conn, rows, set())
    finally:
        await conn.close()


async def datastream(
    client: httpx.AsyncClient, people: Personas, thing_id: int, kind: str, definition: str
) -> int:
    """A datastream whose observed property has ``definition`` (what marks traffic streams)."""
    body: dict[str, Any] = {
        "name": f"{definition.rsplit('/', 2)[-2]} {uuid.uuid4().hex[:6]}",
        "kind": kind,
        "unit": {"name": "count", "symbol": "{count}", "definition": "ucum:{count}"},
        "observed_property": {"name": definition.rsplit("/", 1)[-1], "definition": definition},
        "sensor": {"name": "Zählkamera", "encoding_type": "text/plain"},
    }
    response = await client.post(
        f"/api/v1/sensors/things/{thing_id}/datastreams",
        json=body,
        headers=people.operator.headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])
