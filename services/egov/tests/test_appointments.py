"""Appointments: locations and slots, public slot lists, booking, cancelling, the ICS file,
privacy of the booking, and capacity under concurrency across several app instances."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from icalendar import Calendar
from sqlalchemy import text

from kommune.testing.auth import lifespan_client
from kommune_egov.main import create_app
from kommune_egov.settings import EgovSettings

from .conftest import Db, Persona, Personas, assert_problem

SLOTS = "/api/v1/appointments/slots"
LOCATIONS = "/api/v1/appointments/locations"
APPOINTMENTS = "/api/v1/appointments"


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A local date with ISO ``weekday`` at least ``weeks_ahead`` weeks from today."""
    day = datetime.now(UTC).date() + timedelta(days=7 * weeks_ahead)
    while day.isoweekday() != weekday:
        day += timedelta(days=1)
    return day


def location_body(code: str, *, capacity: int = 2, slot_minutes: int = 20) -> dict[str, Any]:
    return {
        "code": code,
        "name": "Bürgerbüro im Rathaus",
        "address": "Grabenstraße 15, 89522 Heidenheim an der Brenz",
        "opening_hours": [
            {"weekday": 1, "opens": "08:00", "closes": "12:00"},
            {"weekday": 1, "opens": "14:00", "closes": "16:00"},
            {"weekday": 4, "opens": "08:00", "closes": "18:00"},
        ],
        "services": [
            {
                "service_code": "id_card",
                "service_name": "Personalausweis beantragen",
                "slot_minutes": slot_minutes,
                "capacity": capacity,
            },
            {
                "service_code": "registration",
                "service_name": "Wohnsitz anmelden",
                "slot_minutes": 15,
                "capacity": 1,
            },
        ],
    }


async def make_location(
    client: httpx.AsyncClient, people: Personas, *, capacity: int = 2, slot_minutes: int = 20
) -> str:
    code = f"bb-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        LOCATIONS,
        json=location_body(code, capacity=capacity, slot_minutes=slot_minutes),
        headers=people.caseworker.headers,
    )
    assert response.status_code == 201, response.text
    monday = next_weekday(1)
    response = await client.post(
        f"{LOCATIONS}/{code}/slots",
        json={"first_day": monday.isoformat(), "last_day": monday.isoformat()},
        headers=people.caseworker.headers,
    )
    assert response.status_code == 200, response.text
    return code


async def first_slot(client: httpx.AsyncClient, location: str, service: str) -> dict[str, Any]:
    monday = next_weekday(1)
    response = await client.get(
        SLOTS,
        params={
            "location": location,
            "service": service,
            "from": f"{monday.isoformat()}T00:00:00+01:00",
            "to": f"{(monday + timedelta(days=1)).isoformat()}T00:00:00+01:00",
        },
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    assert items
    return items[0]


async def book(
    client: httpx.AsyncClient, persona: Persona, slot: str, **overrides: Any
) -> httpx.Response:
    body = {"slot_id": slot, "name": "Max Mustermann", "email": "max@example.org", **overrides}
    return await client.post(APPOINTMENTS, json=body, headers=persona.headers)


# ---- locations and slots ---------------------------------------------------------------------


async def test_slots_follow_the_opening_rules(client: httpx.AsyncClient, people: Personas) -> None:
    code = await make_location(client, people, slot_minutes=20)
    monday = next_weekday(1)
    response = await client.get(
        SLOTS,
        params={
            "location": code,
            "service": "id_card",
            "from": f"{monday.isoformat()}T00:00:00+00:00",
            "to": f"{(monday + timedelta(days=1)).isoformat()}T00:00:00+00:00",
            "limit": 100,
        },
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # 08:00-12:00 and 14:00-16:00 in slots of 20 minutes: 12 + 6.
    assert len(items) == 18
    first = items[0]
    assert set(first) == {"id", "start", "end", "location", "service", "capacity", "free"}
    assert (first["location"], first["service"], first["capacity"], first["free"]) == (
        code,
        "id_card",
        2,
        2,
    )
    berlin_start = datetime.fromisoformat(first["start"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin_start.hour, berlin_start.minute) == (8, 0)
    assert datetime.fromisoformat(first["end"]) - datetime.fromisoformat(first["start"]) == (
        timedelta(minutes=20)
    )
    # Planning the same day again creates nothing new.
    again = await client.post(
        f"{LOCATIONS}/{code}/slots",
        json={"first_day": monday.isoformat(), "last_day": monday.isoformat()},
        headers=people.caseworker.headers,
    )
    assert again.json() == {"created": 0}
    # The location is listed publicly with its services and hours.
    listed = await client.get(LOCATIONS, params={"limit": 100})
    assert listed.status_code == 200
    mine = [loc for loc in listed.json()["items"] if loc["code"] == code]
    assert len(mine) == 1
    assert {s["service_code"] for s in mine[0]["services"]} == {"id_card", "registration"}
    assert len(mine[0]["opening_hours"]) == 3


async def test_slot_list_refuses_bad_ranges(client: httpx.AsyncClient) -> None:
    for params in (
        {"from": "2030-01-10T00:00:00Z", "to": "2030-01-01T00:00:00Z"},
        {"from": "2030-01-01T00:00:00Z", "to": "2030-06-01T00:00:00Z"},
        {"from": "not-a-date"},
        {"from": "2030-01-01T00:00:00"},  # no offset
        {"service": "a\x00b"},
        {"limit": "0"},
    ):
        response = await client.get(SLOTS, params=params)
        assert_problem(response, 422)


async def test_only_appointment_staff_manage_locations(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    before = await db.counts("appointment_locations", "appointment_slots")
    body = location_body(f"bb-{uuid.uuid4().hex[:8]}")
    for persona in (people.citizen, people.staff, people.operator):
        assert_problem(await client.post(LOCATIONS, json=body, headers=persona.headers), 403)
    assert_problem(await client.post(LOCATIONS, json=body), 401)
    bad_bodies = [
        {**body, "opening_hours": [{"weekday": 8, "opens": "08:00", "closes": "12:00"}]},
        {**body, "opening_hours": [{"weekday": 1, "opens": "12:00", "closes": "08:00"}]},
        {**body, "services": [body["services"][0], body["services"][0]]},
        {**body, "services": [{**body["services"][0], "capacity": 0}]},
        {**body, "services": [{**body["services"][0], "slot_minutes": 1}]},
        {**body, "unknown": 1},
    ]
    for bad in bad_bodies:
        response = await client.post(LOCATIONS, json=bad, headers=people.caseworker.headers)
        assert_problem(response, 422)
    response = await client.post(
        f"{LOCATIONS}/nowhere-{uuid.uuid4().hex[:6]}/slots",
        json={"first_day": "2030-01-01", "last_day": "2030-01-02"},
        headers=people.caseworker.headers,
    )
    assert_problem(response, 404)
    response = await client.post(
        f"{LOCATIONS}/nowhere/slots",
        json={"first_day": "2030-01-01", "last_day": "2030-12-31"},
        headers=people.caseworker.headers,
    )
    assert_problem(response, 422)
    assert await db.counts("appointment_locations", "appointment_slots") == before
    code = await make_location(client, people)
    again = await client.post(
        LOCATIONS, json=location_body(code), headers=people.caseworker.headers
    )
    assert_problem(again, 409)


# ---- booking ---------------------------------------------------------------------------------


async def test_booking_cancelling_and_the_calendar_file(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    code = await make_location(client, people, capacity=2)
    slot = await first_slot(client, code, "id_card")
    response = await book(client, people.citizen, slot["id"])
    assert response.status_code == 201, response.text
    booked = response.json()
    token = booked["cancellation_token"]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert booked["status"] == "booked"
    assert booked["slot"]["id"] == slot["id"]
    assert booked["slot"]["free"] == 1
    assert response.headers["location"] == f"{APPOINTMENTS}/{booked['id']}"
    # Only the token's SHA-256 is stored.
    stored = await db.rows("SELECT token_hash FROM appointments WHERE id = :id", id=booked["id"])
    assert stored[0]["token_hash"] != token
    assert token not in str(stored)

    listed = await first_slot(client, code, "id_card")
    assert listed["free"] == 1

    ics = await client.get(booked["ics_url"], headers=people.citizen.headers)
    assert ics.status_code == 200, ics.text
    assert ics.headers["content-type"].startswith("text/calendar")
    event = Calendar.from_ical(ics.content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == datetime.fromisoformat(slot["start"])
    assert event.decoded("dtend") == datetime.fromisoformat(slot["end"])
    assert str(event["status"]) == "CONFIRMED"
    assert "Personalausweis" in str(event["summary"])

    # Wrong token: nothing changes.
    wrong = await client.post(
        f"{APPOINTMENTS}/cancellation", json={"token": "x" * 43}, headers=people.citizen.headers
    )
    assert_problem(wrong, 404)
    assert (await first_slot(client, code, "id_card"))["free"] == 1

    cancelled = await client.post(
        f"{APPOINTMENTS}/cancellation", json={"token": token}, headers=people.citizen.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert "cancellation_token" not in cancelled.json()
    assert (await first_slot(client, code, "id_card"))["free"] == 2
    again = await client.post(
        f"{APPOINTMENTS}/cancellation", json={"token": token}, headers=people.citizen.headers
    )
    assert_problem(again, 409)
    assert (await first_slot(client, code, "id_card"))["free"] == 2
    ics = await client.get(booked["ics_url"], headers=people.citizen.headers)
    assert str(Calendar.from_ical(ics.content).walk("VEVENT")[0]["status"]) == "CANCELLED"


async def test_a_booking_is_private_to_its_booker(
    client: httpx.AsyncClient, people: Personas
) -> None:
    code = await make_location(client, people)
    slot = await first_slot(client, code, "registration")
    booked = (await book(client, people.citizen, slot["id"], email="privat@example.org")).json()
    other = people.make(f"cit-other-{uuid.uuid4().hex[:6]}", ["citizen"], "Erika Muster")
    for path in (f"{APPOINTMENTS}/{booked['id']}", booked["ics_url"]):
        assert_problem(await client.get(path, headers=other.headers), 404)
        assert_problem(await client.get(path), 401)
        assert_problem(await client.get(path, headers=people.nobody.headers), 403)
    theirs = await client.get(APPOINTMENTS, headers=other.headers)
    assert theirs.status_code == 200
    assert booked["id"] not in {a["id"] for a in theirs.json()["items"]}
    mine = await client.get(APPOINTMENTS, headers=people.citizen.headers, params={"limit": 100})
    assert booked["id"] in {a["id"] for a in mine.json()["items"]}
    own = await client.get(f"{APPOINTMENTS}/{booked['id']}", headers=people.citizen.headers)
    assert own.json()["email"] == "privat@example.org"
    assert "cancellation_token" not in own.json()
    staff = await client.get(f"{APPOINTMENTS}/{booked['id']}", headers=people.caseworker.headers)
    assert staff.status_code == 200
    # The public slot list names nobody.
    public = await client.get(SLOTS, params={"location": code, "limit": 100})
    assert "privat@example.org" not in public.text
    assert "Mustermann" not in public.text


async def test_full_slots_unknown_slots_and_bad_bookings(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    code = await make_location(client, people)
    slot = await first_slot(client, code, "registration")  # capacity 1
    first = await book(client, people.citizen, slot["id"])
    assert first.status_code == 201
    before = await db.counts("appointments")
    twice = await book(client, people.citizen, slot["id"])
    assert_problem(twice, 409)
    other = people.make(f"cit-late-{uuid.uuid4().hex[:6]}", ["citizen"], "Zu Spät")
    full = await book(client, other, slot["id"])
    assert assert_problem(full, 409)["reason"] == "slot_full"
    assert_problem(await book(client, other, str(uuid.uuid4())), 404)
    fresh = await first_slot(client, code, "id_card")
    for bad in (
        {"email": "not-an-address"},
        {"email": "a@b"},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "Max\x00"},
        {"slot_id": "nope"},
        {"extra": True},
    ):
        assert_problem(await book(client, other, fresh["id"], **bad), 422)
    for persona in (people.staff, people.nobody, people.operator):
        assert_problem(await book(client, persona, fresh["id"]), 403)
    assert await db.counts("appointments") == before
    assert (await first_slot(client, code, "id_card"))["free"] == fresh["free"]
    stored = await db.scalar(
        "SELECT booked FROM appointment_slots WHERE id = :id", id=uuid.UUID(slot["id"])
    )
    assert stored == 1


async def test_a_slot_that_has_begun_cannot_be_booked(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    code = await make_location(client, people)
    slot = await first_slot(client, code, "id_card")
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE appointment_slots SET starts_at = now() - interval '1 minute',"
                " ends_at = now() + interval '19 minutes' WHERE id = :id"
            ),
            {"id": uuid.UUID(slot["id"])},
        )
    assert assert_problem(await book(client, people.citizen, slot["id"]), 409)["reason"] == (
        "slot_past"
    )


# ---- capacity under concurrency --------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def replicas(
    settings: EgovSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Three more instances of the service, each with its own engine and connection pool: what
    three replicas behind a load balancer are to the database."""
    quiet = settings.model_copy(
        update={"relay_enabled": False, "consumers_enabled": False, "catalogue_sync_enabled": False}
    )
    clients: list[httpx.AsyncClient] = []
    contexts = [
        lifespan_client(create_app(quiet, http_transport=issuer_transport)) for _ in range(3)
    ]
    try:
        for context in contexts:
            clients.append(await context.__aenter__())
        yield clients
    finally:
        for context in reversed(contexts[: len(clients)]):
            await context.__aexit__(None, None, None)


@pytest.mark.timeout(90)
async def test_120_concurrent_bookings_of_three_places_give_exactly_three(
    client: httpx.AsyncClient, replicas: list[httpx.AsyncClient], people: Personas, db: Db
) -> None:
    code = await make_location(client, people, capacity=3)
    slot = await first_slot(client, code, "id_card")
    assert slot["free"] == 3
    citizens = [
        people.make(f"cit-rush-{i}-{uuid.uuid4().hex[:6]}", ["citizen"], f"Bürger {i}")
        for i in range(120)
    ]
    start = asyncio.Event()

    async def attempt(index: int) -> int:
        await start.wait()
        replica = replicas[index % len(replicas)]
        response = await book(replica, citizens[index], slot["id"], name=f"Bürger {index}")
        if response.status_code == 409:
            assert response.json()["reason"] == "slot_full"
        return response.status_code

    tasks = [asyncio.create_task(attempt(i)) for i in range(120)]
    start.set()
    statuses = Counter(await asyncio.gather(*tasks))
    assert statuses == Counter({201: 3, 409: 117}), statuses
    booked = await db.scalar(
        "SELECT booked FROM appointment_slots WHERE id = :id", id=uuid.UUID(slot["id"])
    )
    rows = await db.scalar(
        "SELECT count(*) FROM appointments WHERE slot_id = :id AND status = 'booked'",
        id=uuid.UUID(slot["id"]),
    )
    assert (booked, rows) == (3, 3)
    assert (await first_slot(client, code, "id_card"))["free"] == 0


async def test_the_database_refuses_an_overbooked_slot_whatever_the_code_does(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    """The CHECK constraint is the last line of defence: even a raw UPDATE cannot overbook."""
    code = await make_location(client, people, capacity=3)
    slot = await first_slot(client, code, "id_card")
    with pytest.raises(Exception, match="within_capacity"):
        await db.rows(
            "UPDATE appointment_slots SET booked = capacity + 1 WHERE id = :id RETURNING id",
            id=uuid.UUID(slot["id"]),
        )
