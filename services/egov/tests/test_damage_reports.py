"""Damage reports: a place is required; every channel (REST, the Open311 adapter through the
service layer) lands in the same department queue."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from kommune.db import create_sessionmaker, transaction
from kommune.errors import InvalidInput
from kommune_egov.applications.service import Place, Submitter, submit

from .conftest import Api, Cast, Db, assert_problem, snapshot

POTHOLE: dict[str, Any] = {"surface": "road", "size": "medium", "hazard": "no"}


async def test_a_citizen_reports_a_pothole_with_a_place(
    api: Api, cast: Cast, client: httpx.AsyncClient, db: Db
) -> None:
    before = await snapshot(db)
    response = await client.post(
        "/api/v1/applications",
        json={"service_code": "pothole", "data": POTHOLE},
        headers=cast.citizen.headers,
    )
    problem = assert_problem(response, 422)
    assert ["body", "location"] in [e["loc"] for e in problem["errors"]]
    # A place for a service that is not about one is refused as well.
    response = await client.post(
        "/api/v1/applications",
        json={
            "service_code": "dog_registration",
            "data": {},
            "location": {"lat": 48.67, "lon": 10.15},
        },
        headers=cast.citizen.headers,
    )
    assert_problem(response, 422)
    assert await snapshot(db) == before
    created = await api.submit("pothole", POTHOLE, location={"lat": 48.6779, "lon": 10.154})
    assert created["department"] == "tiefbau"
    assert created["location"] == {"lat": 48.6779, "lon": 10.154}
    assert created["kind"] == "damage_report"


async def test_the_open311_channel_submits_through_the_service_layer(
    db: Db, client: httpx.AsyncClient, cast: Cast
) -> None:
    sessionmaker: async_sessionmaker[Any] = create_sessionmaker(db.engine)
    reporter = Submitter.open311("fixmystreet-app", email="melder@example.org", name="A. Melder")
    async with transaction(sessionmaker) as session:
        with pytest.raises(InvalidInput):
            await submit(session, reporter, "pothole", POTHOLE)  # no place
    key = f"o311-{uuid.uuid4()}"
    async with transaction(sessionmaker) as session:
        result = await submit(
            session,
            reporter,
            "graffiti",
            {"surface": "bridge", "offensive": "no"},
            place=Place(address="Brenzbrücke, Unterführung"),
            idempotency_key=key,
        )
        application_id = result.application.id
    async with transaction(sessionmaker) as session:
        again = await submit(
            session,
            reporter,
            "graffiti",
            {"surface": "bridge", "offensive": "no"},
            place=Place(address="Brenzbrücke, Unterführung"),
            idempotency_key=key,
        )
    assert again.replayed
    assert again.application.id == application_id
    [row] = await db.rows(
        "SELECT origin, client_app, contact_email, applicant_sub, department"
        " FROM applications WHERE id = :id",
        id=application_id,
    )
    assert row == {
        "origin": "open311",
        "client_app": "fixmystreet-app",
        "contact_email": "melder@example.org",
        "applicant_sub": None,
        "department": "bauhof",
    }
    # No citizen account: no mailbox message; the Bauhof works it in its queue.
    assert (
        await db.scalar(
            "SELECT count(*) FROM mailbox_messages WHERE application_id = :id", id=application_id
        )
        == 0
    )
    queue = await client.get(
        "/api/v1/applications", params={"origin": "open311"}, headers=cast.bauhof.headers
    )
    assert str(application_id) in {a["id"] for a in queue.json()["items"]}
    # Nobody but the department sees it; a citizen cannot even address it.
    assert_problem(
        await client.get(f"/api/v1/applications/{application_id}", headers=cast.citizen.headers),
        404,
    )
