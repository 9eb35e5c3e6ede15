"""Applications: submit (validated, idempotent), own cases only, the caseworkers' workflow."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kommune.events.topics import physical_topic
from kommune.testing.contracts import AssertEventValid
from kommune.testing.infra import OpenProbe
from kommune_egov import events

from .conftest import Api, Cast, Db, Personas, assert_problem, dog_data, snapshot


async def test_acceptance_dog_registration_end_to_end(
    api: Api,
    cast: Cast,
    client: httpx.AsyncClient,
    db: Db,
    kafka_probe: OpenProbe,
    kafka_topic_prefix: str,
    assert_event_valid: AssertEventValid,
) -> None:
    probe = await kafka_probe(physical_topic(kafka_topic_prefix, events.APPLICATION_TOPIC))
    # An invalid field: 422 naming it, nothing stored.
    before = await snapshot(db)
    response = await client.post(
        "/api/v1/applications",
        json={"service_code": "dog_registration", "data": dog_data(chip_number="12AB")},
        headers={**cast.citizen.headers, "Idempotency-Key": "dog-1-invalid"},
    )
    problem = assert_problem(response, 422)
    assert ["data", "chip_number"] in [e["loc"] for e in problem["errors"]]
    assert "chip_number" in problem["detail"]
    assert await snapshot(db) == before

    # Valid: 201, history "submitted", a mailbox message.
    key = f"dog-{uuid.uuid4()}"
    created = await api.submit(key=key)
    assert created["status"] == "submitted"
    assert created["reference"].startswith("EG-2026-") or created["reference"].startswith("EG-")
    assert [h["to_status"] for h in created["history"]] == ["submitted"]
    assert created["allowed_transitions"] == ["withdrawn"]
    messages = await api.mailbox(cast.citizen, application_id=created["id"])
    assert [m["kind"] for m in messages] == ["submitted"]
    assert created["reference"] in messages[0]["subject"]
    assert messages[0]["read"] is False

    # The same Idempotency-Key again: the same application, nothing new.
    before = await snapshot(db)
    response = await client.post(
        "/api/v1/applications",
        json={"service_code": "dog_registration", "data": dog_data()},
        headers={**cast.citizen.headers, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.json()["id"] == created["id"]
    assert await snapshot(db) == before

    # Another citizen: 404, and it is not in their list.
    assert_problem(
        await client.get(
            f"/api/v1/applications/{created['id']}", headers=cast.other_citizen.headers
        ),
        404,
    )
    theirs = await client.get("/api/v1/applications", headers=cast.other_citizen.headers)
    assert created["id"] not in {a["id"] for a in theirs.json()["items"]}
    mine = await client.get("/api/v1/applications", headers=cast.citizen.headers)
    assert created["id"] in {a["id"] for a in mine.json()["items"]}

    # The caseworker of the Bürgeramt moves it through the workflow; illegal moves are 409.
    app_id = created["id"]
    worker = cast.buergeramt
    conflict = assert_problem(
        await client.post(
            f"/api/v1/applications/{app_id}/transitions",
            json={"status": "completed"},
            headers=worker.headers,
        ),
        409,
    )
    assert conflict["allowed"] == ["acknowledged", "needs_info", "rejected"]
    assert conflict["current_status"] == "submitted"
    await api.move(app_id, "acknowledged", worker)
    await api.move(app_id, "needs_info", worker, note="Bitte den Impfpass nachreichen.")
    # The applicant may only answer or withdraw; approving is not theirs.
    refused = assert_problem(
        await client.post(
            f"/api/v1/applications/{app_id}/transitions",
            json={"status": "approved"},
            headers=cast.citizen.headers,
        ),
        409,
    )
    assert refused["allowed"] == ["info_provided", "withdrawn"]
    await api.move(app_id, "info_provided", cast.citizen, note="Impfpass liegt bei.")
    await api.move(app_id, "approved", worker, note="Die Steuermarke kommt per Post.")
    done = await api.move(app_id, "completed", worker)
    assert done["allowed_transitions"] == []
    steps = [
        "submitted",
        "acknowledged",
        "needs_info",
        "info_provided",
        "approved",
        "completed",
    ]
    assert [h["to_status"] for h in done["history"]] == steps
    assert [h["actor"] for h in done["history"]] == [
        "applicant",
        "caseworker",
        "caseworker",
        "applicant",
        "caseworker",
        "caseworker",
    ]
    assert_problem(
        await api.client.post(
            f"/api/v1/applications/{app_id}/transitions",
            json={"status": "rejected", "note": "zu spät"},
            headers=worker.headers,
        ),
        409,
    )

    # Each step is in the mailbox (the request as info_requested) ...
    messages = await api.mailbox(cast.citizen, application_id=app_id)
    assert sorted(m["kind"] for m in messages) == sorted(
        [
            "submitted",
            "status_changed",
            "info_requested",
            "status_changed",
            "status_changed",
            "status_changed",
        ]
    )
    request = next(m for m in messages if m["kind"] == "info_requested")
    assert "Impfpass" in request["body"]
    # ... and on egov.application.v1, schema-valid, in order, keyed by the application.
    published = await probe.events(lambda e: e.key == app_id, count=6, timeout=30)
    assert [e.type for e in published] == [events.APPLICATION_SUBMITTED] + [
        events.APPLICATION_STATUS_CHANGED
    ] * 5
    for event in published:
        assert event.subject == app_id
        assert_event_valid(event.type, event.data)
    assert published[0].data["service_code"] == "dog_registration"
    assert published[0].data["department"] == "buergeramt"
    assert "Lena" not in str(published[0].data)  # no personal data in the event
    assert [(e.data["from_status"], e.data["to_status"]) for e in published[1:]] == list(
        itertools.pairwise(steps)
    )


async def test_form_errors_name_every_field(
    api: Api, client: httpx.AsyncClient, cast: Cast
) -> None:
    data = dog_data(dog_name="", listed_dog="vielleicht", unknown_field=1)
    del data["breed"]
    data["owner"]["date_of_birth"] = "12.04.1988"
    response = await client.post(
        "/api/v1/applications",
        json={"service_code": "dog_registration", "data": data},
        headers=cast.citizen.headers,
    )
    locs = {tuple(e["loc"]) for e in assert_problem(response, 422)["errors"]}
    assert {
        ("data", "dog_name"),
        ("data", "listed_dog"),
        ("data", "unknown_field"),
        ("data", "breed"),
        ("data", "owner", "date_of_birth"),
    } <= locs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_code": "no_such_service", "data": {}}, "service_code"),
        ({"service_code": "dog_registration"}, "data"),
        ({"service_code": "dog_registration", "data": []}, "data"),
        ({"service_code": "DROP TABLE", "data": {}}, "service_code"),
        ({"service_code": "dog_registration", "data": {}, "extra": 1}, "extra"),
        (
            {"service_code": "dog_registration", "data": {}, "location": {"lat": 91, "lon": 0}},
            "location",
        ),
        (b'{"service_code": "dog_registration", "data": {"other_dogs": NaN}}', "data"),
        ({"service_code": "dog_registration", "data": {"a": [[[[[[[[[[1]]]]]]]]]]}}, "data"),
        ({"service_code": "dog_registration", "data": {"dog_name": "Bru\u0000no"}}, "data"),
    ],
)
async def test_bad_bodies_are_422_and_change_nothing(
    client: httpx.AsyncClient, cast: Cast, db: Db, body: dict[str, Any] | bytes, field: str
) -> None:
    before = await snapshot(db)
    if isinstance(body, bytes):  # what httpx would not encode (NaN)
        headers = {**cast.citizen.headers, "Content-Type": "application/json"}
        response = await client.post("/api/v1/applications", content=body, headers=headers)
    else:
        response = await client.post(
            "/api/v1/applications", json=body, headers=cast.citizen.headers
        )
    problem = assert_problem(response, 422)
    assert any(field in map(str, e["loc"]) for e in problem["errors"]), problem
    assert await snapshot(db) == before


async def test_a_reused_key_with_another_body_is_422(api: Api, cast: Cast, db: Db) -> None:
    key = f"k-{uuid.uuid4()}"
    await api.submit(key=key)
    before = await snapshot(db)
    response = await api.client.post(
        "/api/v1/applications",
        json={"service_code": "dog_registration", "data": dog_data(dog_name="Luna")},
        headers={**cast.citizen.headers, "Idempotency-Key": key},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["type"] == "idempotency_key_reused"
    assert await snapshot(db) == before
    # Keys are per caller: another citizen's same key is a new application of theirs.
    theirs = await api.submit(by=cast.other_citizen, key=key)
    assert theirs["id"]
    # A key that is not printable ASCII is refused.
    bad_keys: list[bytes] = [b"", "äää".encode("latin-1"), b"x" * 256, b"a b"]
    for bad in bad_keys:
        headers = [(k.encode(), v.encode()) for k, v in cast.citizen.headers.items()]
        response = await api.client.post(
            "/api/v1/applications",
            json={"service_code": "dog_registration", "data": dog_data()},
            headers=[*headers, (b"Idempotency-Key", bad)],
        )
        assert_problem(response, 422)


async def test_concurrent_retries_with_one_key_make_one_application(
    api: Api, cast: Cast, db: Db
) -> None:
    key = f"race-{uuid.uuid4()}"
    results = await asyncio.gather(*(api.submit(key=key) for _ in range(8)))
    assert len({r["id"] for r in results}) == 1
    assert await db.scalar("SELECT count(*) FROM idempotency_keys WHERE key = :key", key=key) == 1
    assert (
        await db.scalar(
            "SELECT count(*) FROM application_history WHERE application_id = :id",
            id=uuid.UUID(results[0]["id"]),
        )
        == 1
    )


async def test_caseworkers_see_only_their_departments_queue(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    dog = await api.submit()
    assert_problem(
        await client.get(f"/api/v1/applications/{dog['id']}", headers=cast.bauhof.headers), 404
    )
    assert_problem(
        await client.post(
            f"/api/v1/applications/{dog['id']}/transitions",
            json={"status": "acknowledged"},
            headers=cast.bauhof.headers,
        ),
        404,
    )
    bauhof_queue = await client.get(
        "/api/v1/applications", params={"limit": 100}, headers=cast.bauhof.headers
    )
    assert all(a["department"] == "bauhof" for a in bauhof_queue.json()["items"])
    nothing = await client.get("/api/v1/applications", headers=cast.no_department.headers)
    assert nothing.json()["items"] == []
    assert_problem(
        await client.get(f"/api/v1/applications/{dog['id']}", headers=cast.no_department.headers),
        404,
    )


async def test_queue_filters_and_cursor_pagination(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    created = [await api.submit() for _ in range(5)]
    ids = {c["id"] for c in created}
    await api.move(created[0]["id"], "acknowledged", cast.buergeramt)
    seen: list[str] = []
    cursor: str | None = None
    params: dict[str, Any] = {"service": "dog_registration", "status": "submitted", "limit": 2}
    while True:
        response = await client.get(
            "/api/v1/applications",
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=cast.buergeramt.headers,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        assert all(a["status"] == "submitted" for a in page["items"])
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert ids - {created[0]["id"]} <= set(seen)
    assert created[0]["id"] not in seen
    # Oldest first in the queue.
    times = [
        a["submitted_at"]
        for a in (
            await client.get(
                "/api/v1/applications", params={"limit": 100}, headers=cast.buergeramt.headers
            )
        ).json()["items"]
    ]
    assert times == sorted(times)
    # Age filter.
    newest = max(c["submitted_at"] for c in created)
    after = await client.get(
        "/api/v1/applications",
        params={"submitted_after": newest, "limit": 100},
        headers=cast.buergeramt.headers,
    )
    assert {a["id"] for a in after.json()["items"]} & ids == {
        c["id"] for c in created if c["submitted_at"] == newest
    }
    # A cursor only works with the filters it was made for.
    first = await client.get(
        "/api/v1/applications", params={"limit": 1}, headers=cast.buergeramt.headers
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    assert_problem(
        await client.get(
            "/api/v1/applications",
            params={"limit": 1, "status": "approved", "cursor": cursor},
            headers=cast.buergeramt.headers,
        ),
        422,
    )
    for bad in (
        {"status": "nope"},
        {"submitted_after": "gestern"},
        {"submitted_before": "0001-01-01T00:00:00+14:00"},
        {"origin": "x"},
        {"limit": 500},
    ):
        assert_problem(
            await client.get("/api/v1/applications", params=bad, headers=cast.buergeramt.headers),
            422,
        )


async def test_applicant_withdraws_then_nobody_moves_it(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    created = await api.submit()
    withdrawn = await api.move(created["id"], "withdrawn", cast.citizen)
    assert withdrawn["status"] == "withdrawn"
    conflict = assert_problem(
        await client.post(
            f"/api/v1/applications/{created['id']}/transitions",
            json={"status": "acknowledged"},
            headers=cast.buergeramt.headers,
        ),
        409,
    )
    assert conflict["allowed"] == []
    # Another citizen cannot withdraw somebody else's application: it does not exist for them.
    other = await api.submit()
    assert_problem(
        await client.post(
            f"/api/v1/applications/{other['id']}/transitions",
            json={"status": "withdrawn"},
            headers=cast.other_citizen.headers,
        ),
        404,
    )


async def test_notes_are_required_where_they_carry_the_message(
    api: Api, cast: Cast, db: Db
) -> None:
    created = await api.submit()
    before = await snapshot(db)
    for status in ("needs_info", "rejected"):
        response = await api.client.post(
            f"/api/v1/applications/{created['id']}/transitions",
            json={"status": status},
            headers=cast.buergeramt.headers,
        )
        assert_problem(response, 422)
    assert_problem(
        await api.client.post(
            f"/api/v1/applications/{created['id']}/transitions",
            json={"status": "teleported"},
            headers=cast.buergeramt.headers,
        ),
        422,
    )
    assert await snapshot(db) == before


async def test_roles_without_the_right_are_refused(
    client: httpx.AsyncClient, people: Personas, cast: Cast
) -> None:
    body = {"service_code": "dog_registration", "data": dog_data()}
    assert_problem(await client.post("/api/v1/applications", json=body), 401)
    for persona in (people.staff, people.caseworker, people.operator, people.nobody):
        assert_problem(
            await client.post("/api/v1/applications", json=body, headers=persona.headers), 403
        )
    for persona in (people.staff, people.change_agent, people.nobody, people.operator):
        assert_problem(await client.get("/api/v1/applications", headers=persona.headers), 403)
        assert_problem(await client.get("/api/v1/mailbox", headers=persona.headers), 403)
    assert_problem(await client.get("/api/v1/mailbox", headers=cast.buergeramt.headers), 403)


async def test_the_history_is_append_only(api: Api, db: Db) -> None:
    created = await api.submit()
    for sql in (
        "UPDATE application_history SET note = 'x' WHERE application_id = :id",
        "DELETE FROM application_history WHERE application_id = :id",
    ):
        async with db.engine.connect() as connection:
            statement = text(sql)
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(statement, {"id": uuid.UUID(created["id"])})
