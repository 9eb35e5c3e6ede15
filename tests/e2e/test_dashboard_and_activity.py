"""The gateway's own reads against the real services: the staff dashboard, ``/api/v1/me`` and
the activity feed (list and Server-Sent Events), each caller seeing only what they may see.

The platform here is the gateway with ideas, egov and sensors, each a real uvicorn server with
its own migrated database; events go through the real outboxes, relays and broker into the
gateway's activity consumer. The module keeps handles on the servers so that one test can kill
the sensors service (it runs last: the breaker stays open for the rest of the module).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest_asyncio
from sqlalchemy import text

from kommune.db import create_engine
from kommune.events.outbox import DomainEvent
from kommune.events.topics import physical_topic
from kommune.testing.conditions import wait_until
from kommune.testing.infra import CreateDatabase, produce_events
from kommune.testing.platform import AppUnderTest, running_platform
from kommune.testing.servers import RunningServer
from kommune_egov.examples import dog_registration
from kommune_egov.main import create_app as create_egov_app
from kommune_egov.settings import EgovSettings
from kommune_ideas.main import create_app as create_ideas_app
from kommune_ideas.settings import IdeasSettings
from kommune_sensors.main import create_app as create_sensors_app
from kommune_sensors.settings import SensorsSettings

from .conftest import GATEWAY, gateway_dev_issuer, platform_settings

REPO = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"
Headers = dict[str, str]

SERVICES = [
    AppUnderTest(name, create_app, settings_type, REPO / f"services/{name}/alembic.ini")
    for name, create_app, settings_type in (
        ("ideas", create_ideas_app, IdeasSettings),
        ("egov", create_egov_app, EgovSettings),
        ("sensors", create_sensors_app, SensorsSettings),
    )
]


@dataclass
class Stack:
    client: httpx.AsyncClient
    servers: Mapping[str, RunningServer]
    gateway_database_url: str
    kafka_bootstrap_servers: str
    kafka_topic_prefix: str

    async def token(self, roles: list[str], department: str | None = None) -> Headers:
        sub = f"{'-'.join(roles) or 'none'}-{uuid.uuid4().hex[:8]}"
        body: dict[str, Any] = {"sub": sub, "roles": roles, "name": sub}
        if department is not None:
            body["department"] = department
        response = await self.client.post("/auth/dev/token", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}", "X-Sub": sub}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
    tmp_path_factory: Any,
) -> AsyncIterator[Stack]:
    key_file = tmp_path_factory.mktemp("feed-issuer") / "jwk.json"
    async with (
        running_platform(
            create_database,
            gateway=GATEWAY,
            services=SERVICES,
            common=platform_settings(kafka_bootstrap_servers, kafka_topic_prefix),
            identity=gateway_dev_issuer(key_file),
            gateway_settings={
                "rate_limit_requests": 100_000,
                "breaker_threshold": 2,
                "breaker_open_seconds": 120,
                "upstream_retries": 0,
                "activity_poll_seconds": 0.2,
                "activity_heartbeat_seconds": 1,
                "activity_consumer_group": f"gateway.activity.{uuid.uuid4().hex[:8]}",
                "max_requests_per_caller": 4,  # streams count: see the stream test
                "activity_send_timeout_seconds": 2,
            },
            undeployed=("documents",),
            label="feed",
        ) as running,
        httpx.AsyncClient(base_url=running.gateway_url, timeout=30) as client,
    ):
        yield Stack(
            client,
            running.servers,
            running.database_urls["gateway"],
            kafka_bootstrap_servers,
            running.topic_prefix,
        )


# -- helpers --------------------------------------------------------------------------------------


async def apply(stack: Stack, citizen: Headers) -> str:
    response = await stack.client.post(
        "/api/v1/applications",
        json={"service_code": "dog_registration", "data": dog_registration()},
        headers=citizen,
    )
    assert response.status_code == 201, response.text
    application_id: str = response.json()["id"]
    return application_id


async def withdraw(stack: Stack, citizen: Headers, application_id: str) -> None:
    response = await stack.client.post(
        f"/api/v1/applications/{application_id}/transitions",
        json={"status": "withdrawn"},
        headers=citizen,
    )
    assert response.status_code == 200, response.text


async def post_idea(stack: Stack, title: str) -> str:
    admin = await stack.token(["admin"])
    code = f"amt-{uuid.uuid4().hex[:6]}"
    response = await stack.client.post(
        "/api/v1/departments", json={"code": code, "name": f"Amt {code}"}, headers=admin
    )
    assert response.status_code == 201, response.text
    author = await stack.token(["change_agent"])
    response = await stack.client.post(
        "/api/v1/ideas",
        json={
            "title": title,
            "problem_statement": "Urlaubsanträge werden auf Papier gestellt und gehen verloren.",
            "proposed_solution": "Ein digitales Formular mit Freigabe durch die Vorgesetzten.",
            "added_value": "Weniger Papier, schnellere Antworten, nachvollziehbarer Stand.",
            "description": "Pilot im Hauptamt.",
            "department_id": response.json()["id"],
            "tags": ["Personal"],
        },
        headers=author,
    )
    assert response.status_code == 201, response.text
    idea_id: str = response.json()["id"]
    return idea_id


async def raise_alert(stack: Stack, *, times: int = 1) -> str:
    """A sensors alert as the sensors service publishes it (its contract, on its topic);
    ``times`` > 1 delivers the very same event again (as a relay may after a crash)."""
    alert_id = str(uuid.uuid4())
    event = DomainEvent(
        topic="sensors.alert.v1",
        type="de.kommune.sensors.alert.raised.v1",
        aggregate_type="alert",
        aggregate_id=alert_id,
        subject=alert_id,
        data={
            "alert_id": alert_id,
            "kind": "waste_container_full",
            "thing_id": 17,
            "thing_name": "Container Marktplatz",
            "location": {"lat": 48.68, "lon": 10.15},
            "district": "Innenstadt",
            "value": 93.0,
            "threshold": 80.0,
            "raised_at": datetime.now(UTC).isoformat(),
        },
    )
    topic = physical_topic(stack.kafka_topic_prefix, "sensors.alert.v1")
    records = [(topic, event, "/kommune/sensors")] * times
    await produce_events(stack.kafka_bootstrap_servers, *records)
    return alert_id


async def resolve_alert(stack: Stack, alert_id: str) -> None:
    """Its resolution: same key, so the same partition, handled after the raise (and its copy)."""
    event = DomainEvent(
        topic="sensors.alert.v1",
        type="de.kommune.sensors.alert.resolved.v1",
        aggregate_type="alert",
        aggregate_id=alert_id,
        subject=alert_id,
        data={"alert_id": alert_id, "resolved_at": datetime.now(UTC).isoformat()},
    )
    topic = physical_topic(stack.kafka_topic_prefix, "sensors.alert.v1")
    await produce_events(stack.kafka_bootstrap_servers, (topic, event, "/kommune/sensors"))


async def activity(stack: Stack, who: Headers, **params: Any) -> list[dict[str, Any]]:
    """Every entry ``who`` may see, newest first, walking all pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        response = await stack.client.get("/api/v1/activity", params=query, headers=who)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def seen_by(stack: Stack, who: Headers, subject: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until ``who`` sees ``count`` entries about ``subject``; all of ``who``'s entries."""

    async def enough() -> list[dict[str, Any]]:
        items = await activity(stack, who)
        return items if sum(i["subject"] == subject for i in items) >= count else []

    return await wait_until(enough, deadline=30, what=f"activity of {subject}")


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


# -- /api/v1/me -----------------------------------------------------------------------------------


async def test_me_shows_a_citizen_only_their_own_data(stack: Stack) -> None:
    lena = await stack.token(["citizen"])
    paul = await stack.token(["citizen"])
    mine = await apply(stack, lena)
    theirs = await apply(stack, paul)

    response = await stack.client.get("/api/v1/me", headers=lena)
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["complete"] is True
    assert me["missing"] == []
    assert me["sub"] == lena["X-Sub"]
    assert [a["id"] for a in me["applications"]["items"]] == [mine]
    assert theirs not in json.dumps(me)
    # The submission confirmation is an unread message in the mailbox, about her case only.
    assert me["mailbox"]["unread"] >= 1
    assert {m["application_id"] for m in me["mailbox"]["latest"]} == {mine}
    assert me["appointments"] == {"items": [], "more": False}
    assert me["ideas"] is None
    assert me["tasks"] is None

    # A caseworker: ideas (none posted) and the department's new applications as tasks.
    worker = await stack.token(["caseworker"], department="buergeramt")
    staff_view = (await stack.client.get("/api/v1/me", headers=worker)).json()
    assert staff_view["complete"] is True, staff_view["missing"]
    assert staff_view["applications"] is None
    assert staff_view["mailbox"] is None
    assert staff_view["ideas"] == {"items": [], "more": False}
    assert {mine, theirs} <= {t["id"] for t in staff_view["tasks"]["items"]}

    assert_problem(await stack.client.get("/api/v1/me"), 401)
    assert_problem(await stack.client.get("/api/v1/me", headers=await stack.token([])), 403)


# -- the activity feed ----------------------------------------------------------------------------


async def test_activity_each_caller_sees_only_what_they_may(stack: Stack) -> None:
    lena = await stack.token(["citizen"])
    paul = await stack.token(["citizen"])
    buergeramt = await stack.token(["caseworker"], department="buergeramt")
    bauhof = await stack.token(["caseworker"], department="bauhof")
    agent = await stack.token(["change_agent"])

    hers = await apply(stack, lena)
    his = await apply(stack, paul)
    await withdraw(stack, lena, hers)
    idea_id = await post_idea(stack, f"Digitale Urlaubsanträge {uuid.uuid4().hex[:6]}")
    alert_id = await raise_alert(stack, times=2)
    await resolve_alert(stack, alert_id)

    # Lena: her case, submitted then withdrawn, newest first; nothing of Paul's, no staff news.
    lenas = await seen_by(stack, lena, hers, count=2)
    assert {i["subject"] for i in lenas} == {hers}
    assert [i["data"].get("to_status", "submitted") for i in lenas] == ["withdrawn", "submitted"]
    assert lenas[0]["id"] > lenas[1]["id"]
    assert lenas[1]["data"]["service_code"] == "dog_registration"
    pauls = await seen_by(stack, paul, his)
    assert {i["subject"] for i in pauls} == {his}
    for items in (lenas, pauls):
        text = json.dumps(items)
        assert "applicant_sub" not in text
        assert "owner_sub" not in text
        assert lena["X-Sub"] not in text
        assert paul["X-Sub"] not in text
        assert "Lena" not in text

    # Staff: ideas and alerts; cases only of their own department.
    seen = await seen_by(stack, buergeramt, alert_id)
    subjects = {i["subject"] for i in await seen_by(stack, buergeramt, idea_id)}
    assert {hers, his, idea_id, alert_id} <= subjects
    assert {i["kind"] for i in seen} <= {"case", "idea", "alert"}
    bauhofs = await seen_by(stack, bauhof, alert_id)
    assert {hers, his}.isdisjoint(i["subject"] for i in bauhofs)
    assert idea_id in {i["subject"] for i in bauhofs}
    agents = await seen_by(stack, agent, alert_id, count=2)
    assert {i["kind"] for i in agents} <= {"idea", "alert"}
    # Raised (delivered twice, recorded once: inbox and event id), then resolved.
    assert [i["title"] for i in agents if i["subject"] == alert_id] == [
        "Alarm erledigt: Container Marktplatz",
        "Alarm: Container Marktplatz",
    ]

    # Filter and pages: one at a time, newest first, no entry twice.
    only_ideas = await activity(stack, buergeramt, kind="idea")
    assert only_ideas
    assert {i["kind"] for i in only_ideas} == {"idea"}
    walked: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await stack.client.get("/api/v1/activity", params=params, headers=lena)).json()
        walked += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [i["id"] for i in lenas]

    # A cursor is bound to its caller and filters; bad input is a 422 problem.
    first = (await stack.client.get("/api/v1/activity?limit=1", headers=lena)).json()
    assert first["next_cursor"]
    foreign = await stack.client.get(
        "/api/v1/activity", params={"cursor": first["next_cursor"]}, headers=paul
    )
    assert_problem(foreign, 422)
    for bad in ({"limit": 0}, {"limit": 101}, {"kind": "everything"}, {"cursor": "x" * 40}):
        assert_problem(await stack.client.get("/api/v1/activity", params=bad, headers=lena), 422)
    assert_problem(await stack.client.get("/api/v1/activity"), 401)
    assert_problem(await stack.client.get("/api/v1/activity", headers=await stack.token([])), 403)


@dataclass
class SseEvent:
    id: int
    data: dict[str, Any]


class SseReader:
    """Reads a ``text/event-stream`` line by line: events, and the comments (heartbeats)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments = 0

    async def next_event(self, deadline: float = 30) -> SseEvent:
        fields: dict[str, str] = {}
        async with asyncio.timeout(deadline):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments += 1
                elif line == "":
                    if "data" in fields:
                        return SseEvent(int(fields["id"]), json.loads(fields["data"]))
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def comment(self, deadline: float = 10) -> None:
        """Wait for the next comment line (a heartbeat) — only while no event is due."""
        before = self.comments
        async with asyncio.timeout(deadline):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments += 1
                assert not line.startswith("data:"), line
                if self.comments > before:
                    return


async def test_stream_resumes_with_last_event_id_and_shows_nothing_foreign(stack: Stack) -> None:
    lena = await stack.token(["citizen"])
    paul = await stack.token(["citizen"])
    auth = {"Authorization": lena["Authorization"]}

    async with stack.client.stream("GET", "/api/v1/activity/stream", headers=auth) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        await reader.comment()  # idle: heartbeats keep the connection alive
        first_case = await apply(stack, lena)
        first = await reader.next_event()
        assert first.data["subject"] == first_case
        assert first.data["kind"] == "case"
    # Disconnected: Lena withdraws, Paul applies, Lena applies again.
    await withdraw(stack, lena, first_case)
    await seen_by(stack, lena, first_case, count=2)
    foreign = await apply(stack, paul)
    pauls = await seen_by(stack, paul, foreign)
    second_case = await apply(stack, lena)
    lenas = await seen_by(stack, lena, second_case)
    missed = sorted(i["id"] for i in lenas if i["id"] > first.id)
    assert len(missed) == 2
    assert missed[0] < pauls[0]["id"] < missed[1]  # Paul's entry lies between Lena's two

    resumed = {**auth, "Last-Event-ID": str(first.id)}
    async with stack.client.stream("GET", "/api/v1/activity/stream", headers=resumed) as response:
        assert response.status_code == 200
        reader = SseReader(response)
        got = [await reader.next_event(), await reader.next_event()]
        assert [e.id for e in got] == missed  # none missed, in order, Paul's skipped
        assert [e.data["subject"] for e in got] == [first_case, second_case]
        assert got[0].data["data"]["to_status"] == "withdrawn"
        await reader.comment()  # and nothing else follows: only heartbeats
        assert foreign not in json.dumps([e.data for e in got])

    # Without Last-Event-ID a stream starts now: staff see ideas and alerts of earlier tests in
    # the list, but the stream's first line is a heartbeat, not a replay.
    agent = await stack.token(["change_agent"])
    assert await activity(stack, agent)
    async with stack.client.stream("GET", "/api/v1/activity/stream", headers=agent) as response:
        await SseReader(response).comment()

    # One caller holds at most max_requests_per_caller (4 here) streams; a closed one frees its
    # slot (the server sees the disconnect).
    async with AsyncExitStack() as streams:
        for _ in range(4):
            opened = await streams.enter_async_context(
                stack.client.stream("GET", "/api/v1/activity/stream", headers=auth)
            )
            assert opened.status_code == 200
        assert_problem(await stack.client.get("/api/v1/activity/stream", headers=auth), 429)

    async def slot_free() -> bool:
        async with stack.client.stream("GET", "/api/v1/activity/stream", headers=auth) as again:
            return again.status_code == 200

    await wait_until(slot_free, deadline=10, what="stream slots released")

    for bad in ("abc", "-1", "1" * 19, "1 2"):
        response = await stack.client.get(
            "/api/v1/activity/stream", headers={**auth, "Last-Event-ID": bad}
        )
        assert_problem(response, 422)
    assert_problem(await stack.client.get("/api/v1/activity/stream"), 401)
    nobody = await stack.token([])
    assert_problem(await stack.client.get("/api/v1/activity/stream", headers=nobody), 403)


async def test_a_client_that_never_reads_is_cut_off_not_buffered(stack: Stack) -> None:
    """Back-pressure: the stream reads the log only as fast as the socket takes it, and a client
    that takes nothing for the send timeout (2 s here) is disconnected, freeing its slot."""
    staff = await stack.token(["change_agent"])
    host, port = "127.0.0.1", stack.servers["gateway"].port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /api/v1/activity/stream HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {staff['Authorization']}\r\n\r\n".encode()
    )
    await writer.drain()
    quiet = {"Authorization": staff["Authorization"], "Last-Event-ID": str(10**17)}
    async with AsyncExitStack() as held:
        # The caller's other three slots: streams with nothing to send (resumed far ahead).
        for _ in range(3):
            opened = await held.enter_async_context(
                stack.client.stream("GET", "/api/v1/activity/stream", headers=quiet)
            )
            assert opened.status_code == 200
        # ~8 MB of entries the stream wants to send: far beyond the socket buffers (4 MB max).
        rows, title = 5000, "x" * 1500
        tag = uuid.uuid4().hex
        engine = create_engine(stack.gateway_database_url, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO activity (event_id, type, kind, subject, title, data, "
                        "occurred_at) SELECT :tag || '-' || g, :type, 'alert', :tag, :title, "
                        "'{}'::jsonb, now() FROM generate_series(1, :rows) AS g"
                    ),
                    {
                        "tag": tag,
                        "type": "de.kommune.sensors.alert.raised.v1",
                        "title": title,
                        "rows": rows,
                    },
                )
        finally:
            await engine.dispose()
        assert_problem(await stack.client.get("/api/v1/activity/stream", headers=quiet), 429)

        async def slot_freed() -> bool:
            async with stack.client.stream(
                "GET", "/api/v1/activity/stream", headers=quiet
            ) as response:
                return response.status_code == 200

        # Only the stalled stream can free a slot: the server gave up on it.
        await wait_until(slot_freed, deadline=20, what="the stalled stream closed")
    received = 0
    async with asyncio.timeout(20):
        while line := await reader.readline():  # what was in the buffers, then EOF
            received += line.startswith(b"data:")
    writer.close()
    assert 0 < received < rows, received


# -- the dashboard (last: it kills the sensors service) ------------------------------------------


async def test_dashboard_answers_with_the_rest_when_an_upstream_is_killed(stack: Stack) -> None:
    citizen = await stack.token(["citizen"])
    worker = await stack.token(["caseworker"], department="buergeramt")
    await apply(stack, citizen)

    berlin = ZoneInfo("Europe/Berlin")
    before = datetime.now(berlin).date().isoformat()
    response = await stack.client.get("/api/v1/dashboard", headers=worker)
    today = {before, datetime.now(berlin).date().isoformat()}  # around midnight: either day
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["open_cases"]["by_department"]["buergeramt"] >= 1
    assert set(board["open_cases"]["by_department"]) == {"buergeramt"}  # egov's visibility
    assert board["ideas"]["total"] == sum(board["ideas"]["by_status"].values())
    assert board["alerts"] == {"open": 0, "more": False, "latest": []}
    # A fresh sensors service: no container, no counts today (Europe/Berlin), all parts there.
    assert board["waste"] == {"containers_above_threshold": 0}
    assert board["traffic"]["totals"] == {"pedestrian": 0, "bicycle": 0, "car": 0}
    assert board["traffic"]["date"] in today
    assert board["complete"] is True
    assert board["missing"] == []

    assert_problem(await stack.client.get("/api/v1/dashboard", headers=citizen), 403)
    assert_problem(await stack.client.get("/api/v1/dashboard"), 401)

    # Kill sensors: the first answer names its parts unavailable (and opens the breaker) ...
    await stack.servers["sensors"].stop()
    response = await stack.client.get("/api/v1/dashboard", headers=worker)
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["open_cases"] is not None
    assert board["ideas"] is not None
    assert board["waste"] is None
    assert board["alerts"] is None
    assert board["traffic"] is None
    assert board["complete"] is False
    assert {(m["part"], m["upstream"], m["reason"]) for m in board["missing"]} == {
        ("waste", "sensors", "unavailable"),
        ("alerts", "sensors", "unavailable"),
        ("traffic", "sensors", "unavailable"),
    }
    # ... after which sensors is not even tried: the answer is immediate, the rest still there.
    started = time.perf_counter()
    response = await stack.client.get("/api/v1/dashboard", headers=worker)
    elapsed = time.perf_counter() - started
    board = response.json()
    assert response.status_code == 200
    assert {m["reason"] for m in board["missing"]} == {"circuit_open"}
    assert board["open_cases"] is not None
    assert board["ideas"] is not None
    assert elapsed < 1.0, elapsed
    # The same breaker guards the proxied routes.
    proxied = await stack.client.get("/api/v1/sensors/alerts", headers=worker)
    assert_problem(proxied, 503)
    assert proxied.json()["code"] == "upstream_circuit_open"
