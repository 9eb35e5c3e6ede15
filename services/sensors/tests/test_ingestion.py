"""Ingestion end to end: HTTP batch → Kafka (202 after the ack) → writer → PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kommune.testing.service import Db, Personas, assert_problem

from .conftest import Api

URL = "/api/v1/sensors/observations"


def readings(stream_id: int, count: int, *, start: datetime | None = None) -> list[dict[str, Any]]:
    start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=15 * count + 3600)
    return [
        {
            "datastream": stream_id,
            "phenomenonTime": (start + timedelta(seconds=15 * i)).isoformat(),
            "result": i % 40,
            "parameters": {"direction": "in" if i % 2 else "out"},
        }
        for i in range(count)
    ]


def key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def test_a_batch_sent_twice_is_stored_once_with_roll_ups_and_latest(
    api: Api, client: httpx.AsyncClient, db: Db
) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"])
    key = await api.key(thing["id"])
    batch = readings(stream["id"], 2000)

    first = await client.post(URL, json=batch, headers=key_headers(key))
    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 2000, "rejected": 0, "errors": []}
    await api.wait_stored(stream["id"], 2000)
    again = await client.post(URL, json=batch, headers=key_headers(key))
    assert again.status_code == 202
    # A sentinel after the repeat: once it is stored, the repeat has been processed too (same
    # datastream → same partition → in order).
    sentinel = readings(stream["id"], 1, start=datetime.now(UTC) - timedelta(minutes=1))
    assert (await client.post(URL, json=sentinel, headers=key_headers(key))).status_code == 202
    await api.wait_stored(stream["id"], 2001)
    assert await api.stored(stream["id"]) == 2001

    hourly = await db.scalar(
        "SELECT sum(count) FROM observations_hourly WHERE datastream_id = :id", id=stream["id"]
    )
    daily = await db.scalar(
        "SELECT sum(count) FROM observations_daily WHERE datastream_id = :id", id=stream["id"]
    )
    assert hourly == daily == 2001
    total = await db.scalar(
        "SELECT sum(sum) FROM observations_hourly WHERE datastream_id = :id", id=stream["id"]
    )
    assert total == sum(r["result"] for r in batch) + sentinel[0]["result"]
    got = await client.get(
        f"/api/v1/sensors/datastreams/{stream['id']}", headers=api.people.staff.headers
    )
    assert got.json()["observation_count"] == 2001
    assert got.json()["latest"]["result"] == sentinel[0]["result"]
    assert datetime.fromisoformat(
        got.json()["latest"]["phenomenon_time"]
    ) == datetime.fromisoformat(sentinel[0]["phenomenonTime"])
    params = await db.scalar(
        "SELECT parameters FROM observations WHERE datastream_id = :id ORDER BY phenomenon_time "
        "LIMIT 1",
        id=stream["id"],
    )
    assert params == {"direction": "out"}


async def test_three_bad_rows_are_reported_by_index_and_the_rest_is_stored(
    api: Api, client: httpx.AsyncClient
) -> None:
    thing = await api.thing()
    level = await api.datastream(thing["id"], kind="fill_level")
    count = await api.datastream(thing["id"], kind="count")
    key = await api.key(thing["id"])
    batch = readings(level["id"], 10)
    batch[2]["result"] = 150  # a fill level above 100 %
    batch[5]["phenomenonTime"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    batch[7] = {**batch[7], "datastream": count["id"], "result": -1}  # a negative count
    response = await client.post(URL, json=batch, headers=key_headers(key))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 7
    assert body["rejected"] == 3
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (2, "result"),
        (5, "phenomenonTime"),
        (7, "result"),
    ]
    await api.wait_stored(level["id"], 7)
    assert await api.stored(count["id"]) == 0


async def test_row_rules(api: Api, client: httpx.AsyncClient, people: Personas) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"], kind="count")
    other_thing = await api.thing()
    foreign = await api.datastream(other_thing["id"])
    key = await api.key(thing["id"])
    good = readings(stream["id"], 1)[0]
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    rows: list[Any] = [
        good,
        {**good, "datastream": foreign["id"]},  # another device's datastream
        {**good, "datastream": 987654321},  # does not exist
        {**good, "phenomenonTime": "2026-11-29T09:30:00"},  # no offset
        {**good, "phenomenonTime": "yesterday"},
        {**good, "phenomenonTime": old},  # older than the retention
        {**good, "result": 1.5},  # a count is whole
        {**good, "result": "12"},
        {**good, "result": True},
        {**good, "parameters": [1, 2]},
        {**good, "parameters": {"k": "v" * 2000}},
        {**good, "extra": 1},
        {"datastream": stream["id"], "result": 1},
        "not an object",
        {**good, "datastream": "1"},
    ]
    response = await client.post(URL, json=rows, headers=key_headers(key))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [e["index"] for e in body["errors"]] == list(range(1, len(rows)))
    # An operator's token may write any datastream (imports, backfills).
    imported = await client.post(
        URL, json=[{**good, "datastream": foreign["id"]}], headers=people.operator.headers
    )
    assert imported.status_code == 202
    assert imported.json()["accepted"] == 1


async def test_who_may_post(api: Api, client: httpx.AsyncClient, people: Personas) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"])
    key = await api.key(thing["id"])
    batch = readings(stream["id"], 1)
    assert_problem(await client.post(URL, json=batch), 401)
    for person in (people.staff, people.citizen, people.caseworker, people.nobody):
        assert_problem(await client.post(URL, json=batch, headers=person.headers), 403)
    for bad_key in ("kdk_x", "nonsense", key[:-1] + ("A" if key[-1] != "A" else "B")):
        assert_problem(await client.post(URL, json=batch, headers=key_headers(bad_key)), 401)
    both = {**key_headers(key), **people.operator.headers}
    assert_problem(await client.post(URL, json=batch, headers=both), 401)
    # A rotated key stops working at once; the new one works.
    keys = (
        await client.get(f"/api/v1/sensors/things/{thing['id']}/keys", headers=people.admin.headers)
    ).json()
    rotated = await client.post(
        f"/api/v1/sensors/things/{thing['id']}/keys/{keys[0]['id']}/rotate",
        headers=people.admin.headers,
    )
    assert_problem(await client.post(URL, json=batch, headers=key_headers(key)), 401)
    fresh = await client.post(URL, json=batch, headers=key_headers(rotated.json()["key"]))
    assert fresh.status_code == 202


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"not json", 422),
        (b'{"datastream": 1}', 422),
        (b"[]", 422),
        (b'[{"datastream": 1, "phenomenonTime": "2026-01-01T00:00:00Z", "result": NaN}]', 422),
        (b"[" * 100_000 + b"]" * 100_000, 422),
    ],
)
async def test_malformed_bodies(
    client: httpx.AsyncClient, people: Personas, content: bytes, status: int
) -> None:
    response = await client.post(
        URL,
        content=content,
        headers={**people.operator.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, status)


async def test_too_many_rows_and_only_bad_rows(
    api: Api, client: httpx.AsyncClient, people: Personas, settings: Any
) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"])
    too_many = readings(stream["id"], settings.max_batch_rows + 1)
    assert_problem(await client.post(URL, json=too_many, headers=people.operator.headers), 413)
    all_bad = [{**r, "result": -5} for r in readings(stream["id"], 3)]
    body = assert_problem(
        await client.post(URL, json=all_bad, headers=people.operator.headers), 422
    )
    assert [e["index"] for e in body["row_errors"]] == [0, 1, 2]
    text = await client.post(
        URL,
        content=json.dumps(readings(stream["id"], 1)),
        headers={**people.operator.headers, "Content-Type": "text/plain"},
    )
    assert_problem(text, 422)
    assert await api.stored(stream["id"]) == 0


async def test_a_mac_address_anywhere_refuses_the_batch_and_leaves_no_trace(
    api: Api, client: httpx.AsyncClient, db: Db, capfd: pytest.CaptureFixture[str]
) -> None:
    thing = await api.thing()
    stream = await api.datastream(thing["id"])
    key = await api.key(thing["id"])
    mac = "a4:5e:60:e8:1f:0b"
    batch = readings(stream["id"], 50)
    batch[17]["parameters"] = {"seen": [{"station": mac}]}
    batch[31]["parameters"] = {"vehicle": "HDH-AB 123"}
    response = await client.post(URL, json=batch, headers=key_headers(key))
    body = assert_problem(response, 422)
    assert body["privacy"] == [
        {"index": 17, "kind": "mac_address"},
        {"index": 31, "kind": "number_plate"},
    ]
    assert mac not in response.text
    assert "HDH-AB" not in response.text
    # The next batch of the same device is written after anything the refused one could have
    # left on the datastream's partition: once it is stored, nothing else is coming.
    later = readings(stream["id"], 1, start=datetime.now(UTC) - timedelta(minutes=1))
    assert (await client.post(URL, json=later, headers=key_headers(key))).status_code == 202
    await api.wait_stored(stream["id"], 1)
    assert await api.stored(stream["id"]) == 1
    leaked = await db.scalar(
        "SELECT count(*) FROM observations WHERE parameters::text LIKE :mac", mac=f"%{mac}%"
    )
    assert leaked == 0
    out, err = capfd.readouterr()
    assert mac not in out + err
    assert "HDH-AB 123" not in out + err
