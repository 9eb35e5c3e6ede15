"""Waste containers: one alert per episode above the threshold (outbox), resolved on emptying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kommune.db import create_sessionmaker, transaction
from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.service import Db, Personas, assert_problem
from kommune_sensors.alerts.service import evaluate_fill_levels

from .conftest import DEADLINE_SECONDS, Api

URL = "/api/v1/sensors/observations"


async def post_level(
    client: httpx.AsyncClient, key: str, stream_id: int, when: datetime, level: float
) -> None:
    body = [{"datastream": stream_id, "phenomenonTime": when.isoformat(), "result": level}]
    response = await client.post(URL, json=body, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text


async def alerts_of(db: Db, stream_id: int) -> list[dict[str, Any]]:
    return await db.rows(
        "SELECT id, value, threshold, resolved_at FROM alerts WHERE datastream_id = :id "
        "ORDER BY raised_at",
        id=stream_id,
    )


async def test_one_alert_per_episode_with_its_events(
    api: Api,
    client: httpx.AsyncClient,
    db: Db,
    people: Personas,
    assert_event_valid: AssertEventValid,
) -> None:
    container = await api.thing(
        name="Unterflurbehälter Marktplatz",
        district="Innenstadt",
        location={"name": "Marktplatz", "lat": 48.6766, "lon": 10.1536},
    )
    stream = await api.datastream(container["id"], kind="fill_level")
    key = await api.key(container["id"])
    start = datetime.now(UTC) - timedelta(hours=6)
    for step, level in enumerate([40, 60, 85, 90, 95]):  # one request (and batch) each
        await post_level(client, key, stream["id"], start + timedelta(minutes=30 * step), level)
    await post_level(client, key, stream["id"], start + timedelta(hours=3), 8)  # emptied

    async def resolved() -> bool:
        found = await alerts_of(db, stream["id"])
        return bool(found) and found[-1]["resolved_at"] is not None

    await wait_until(
        resolved, what="the container alert to be raised and resolved", deadline=DEADLINE_SECONDS
    )
    [alert] = await alerts_of(db, stream["id"])
    assert alert["value"] == 85
    assert alert["threshold"] == 80

    events = await db.rows(
        "SELECT type, payload, headers FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq",
        id=str(alert["id"]),
    )
    assert [e["type"] for e in events] == [
        "de.kommune.sensors.alert.raised.v1",
        "de.kommune.sensors.alert.resolved.v1",
    ]
    raised = events[0]["payload"]
    assert_event_valid("de.kommune.sensors.alert.raised.v1", raised)
    assert raised["kind"] == "waste_container_full"
    assert raised["thing_id"] == container["id"]
    assert raised["thing_name"] == "Unterflurbehälter Marktplatz"
    assert raised["location"] == {"lat": 48.6766, "lon": 10.1536}
    assert raised["district"] == "Innenstadt"
    assert events[0]["headers"]["ce_subject"] == str(alert["id"])

    # A new crossing is a new episode.
    await post_level(client, key, stream["id"], start + timedelta(hours=4), 88)

    async def second() -> bool:
        return len(await alerts_of(db, stream["id"])) == 2

    await wait_until(second, what="the second episode's alert", deadline=DEADLINE_SECONDS)
    listed = await client.get(
        "/api/v1/sensors/alerts",
        params={"open": "true", "thing_id": container["id"]},
        headers=people.staff.headers,
    )
    assert listed.status_code == 200
    assert [a["value"] for a in listed.json()["items"]] == [88]


async def test_alerts_need_a_staff_token_and_valid_filters(
    client: httpx.AsyncClient, people: Personas
) -> None:
    assert_problem(await client.get("/api/v1/sensors/alerts"), 401)
    assert_problem(await client.get("/api/v1/sensors/alerts", headers=people.citizen.headers), 403)
    bad = await client.get(
        "/api/v1/sensors/alerts", params={"open": "maybe"}, headers=people.staff.headers
    )
    assert_problem(bad, 422)


async def test_episodes_inside_one_batch_and_redelivery(api: Api, db: Db) -> None:
    """The state machine over one batch's new readings: 85, 90 (one episode), 8 (emptied),
    88 (the next one). Evaluating nothing new (a redelivered batch stores no new rows) changes
    nothing."""
    container = await api.thing()
    stream = await api.datastream(container["id"], kind="fill_level")
    sessions = create_sessionmaker(db.engine)
    async with transaction(sessions) as session:
        assert await evaluate_fill_levels(session, {stream["id"]: [85, 90, 8, 88]}, 80.0) == (2, 1)
    async with transaction(sessions) as session:
        assert await evaluate_fill_levels(session, {stream["id"]: [95]}, 80.0) == (0, 0)
    async with transaction(sessions) as session:
        assert await evaluate_fill_levels(session, {}, 80.0) == (0, 0)
    found = await alerts_of(db, stream["id"])
    assert [(a["value"], a["resolved_at"] is None) for a in found] == [(85, False), (88, True)]
