"""The platform spine, end to end: gateway → service → outbox → relay → Kafka, and its guards."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from kommune.auth.dev_issuer import DevIssuer
from kommune.testing.conditions import wait_until
from kommune.testing.infra import KafkaProbe, LocalKafka
from kommune_ideas.events import IDEA_TOPIC
from kommune_schemas import validate, validate_headers

from .conftest import Platform

CREATED = "de.kommune.ideas.idea.created.v1"
PROBLEM_JSON = "application/problem+json"


async def a_department(platform: Platform) -> str:
    admin = await platform.token(f"admin-{uuid.uuid4().hex[:6]}", ["admin"])
    suffix = uuid.uuid4().hex[:6]
    response = await platform.client.post(
        "/api/v1/departments",
        json={"code": f"hauptamt-{suffix}", "name": f"Hauptamt {suffix}"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    department_id: str = response.json()["id"]
    return department_id


def idea(department_id: str, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "problem_statement": "Urlaubsanträge werden auf Papier gestellt und gehen verloren.",
        "proposed_solution": "Ein digitales Formular mit Freigabe durch die Vorgesetzten.",
        "added_value": "Weniger Papier, schnellere Antworten, nachvollziehbarer Stand.",
        "description": "Pilot im Hauptamt, danach für alle Ämter.",
        "department_id": department_id,
        "tags": ["Personal"],
    }


async def test_idea_created_through_the_gateway_is_stored_and_published(
    platform: Platform,
) -> None:
    department_id = await a_department(platform)
    author = await platform.token(f"ca-{uuid.uuid4().hex[:6]}", ["change_agent"], "Anna Schmid")
    title = f"Digitaler Urlaubsantrag {uuid.uuid4().hex[:6]}"

    async with KafkaProbe(platform.kafka_bootstrap_servers, platform.topic(IDEA_TOPIC)) as probe:
        response = await platform.client.post(
            "/api/v1/ideas", json=idea(department_id, title), headers=author
        )
        assert response.status_code == 201, response.text
        created = response.json()
        idea_id = created["id"]
        assert created["title"] == title
        assert created["status"] == "idea"

        assert (
            await platform.ideas_scalar(
                "SELECT title FROM ideas WHERE id = :id", id=uuid.UUID(idea_id)
            )
            == title
        )

        [record] = await probe.records(
            lambda r: (
                r.key == idea_id.encode() and dict(r.headers).get("ce_type") == CREATED.encode()
            ),
            timeout=20,
        )

    headers = {name: value.decode() for name, value in record.headers}
    for attribute in (
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_traceparent",
    ):
        assert headers.get(attribute), f"{attribute} missing from {sorted(headers)}"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == CREATED
    validate_headers(CREATED, headers)
    payload = json.loads(record.value)
    validate(CREATED, payload)
    assert payload["idea_id"] == idea_id

    # Staff read it in the idea store, through the gateway.
    staff = await platform.token(f"st-{uuid.uuid4().hex[:6]}", ["staff"])
    listed = await platform.client.get("/api/v1/ideas", params={"limit": 100}, headers=staff)
    assert listed.status_code == 200
    assert idea_id in [item["id"] for item in listed.json()["items"]]


async def test_kafka_outage_delays_the_event_but_never_loses_or_doubles_it(
    platform: Platform, local_kafka: LocalKafka
) -> None:
    department_id = await a_department(platform)
    author = await platform.token(f"ca-{uuid.uuid4().hex[:6]}", ["change_agent"])
    title = f"Sitzungsunterlagen digital {uuid.uuid4().hex[:6]}"

    await local_kafka.stop()
    try:
        response = await platform.client.post(
            "/api/v1/ideas", json=idea(department_id, title), headers=author
        )
        assert response.status_code == 201, response.text
        idea_id = response.json()["id"]
        unsent = "SELECT count(*) FROM outbox WHERE aggregateid = :id"
        assert await platform.ideas_scalar(unsent, id=idea_id) == 1, "the event waits"
    finally:
        await local_kafka.start()

    def created_event(record: Any) -> bool:
        return bool(
            record.key == idea_id.encode()
            and dict(record.headers).get("ce_type") == CREATED.encode()
        )

    # The idea id is new, so reading the whole topic counts every delivery of its event.
    async with KafkaProbe(
        platform.kafka_bootstrap_servers, platform.topic(IDEA_TOPIC), from_beginning=True
    ) as probe:
        assert await probe.records(created_event, timeout=60), "delivered after the outage"
        records = await probe.records(created_event, count=None, timeout=30)
    assert len(records) == 1, f"expected exactly one delivery, got {len(records)}"

    async def deleted_once_sent() -> bool:
        return bool(await platform.ideas_scalar(unsent, id=idea_id) == 0)

    # The relay deletes the row after the broker's ack, so possibly after the probe saw it.
    await wait_until(deleted_once_sent, deadline=30)


@pytest.mark.parametrize("target", ["gateway", "service"])
async def test_requests_without_a_valid_token_are_refused_as_problems(
    platform: Platform, target: str
) -> None:
    base = platform.gateway_url if target == "gateway" else platform.ideas_url
    own_key = DevIssuer.from_key_file(platform.issuer_key_file, platform.issuer_url)
    foreign_key = DevIssuer.from_key_file(
        platform.issuer_key_file.parent / "foreign.json", platform.issuer_url
    )
    wrong_issuer = DevIssuer.from_key_file(
        platform.issuer_key_file, "http://127.0.0.1:1/auth/other"
    )
    cases = {
        "none": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "forged": {"Authorization": "Bearer " + foreign_key.issue("eve", ["admin"])},
        "expired": {"Authorization": "Bearer " + own_key.issue("eve", ["staff"], expires_in=-120)},
        "wrong issuer": {"Authorization": "Bearer " + wrong_issuer.issue("eve", ["staff"])},
    }
    for case, headers in cases.items():
        response = await platform.client.get(f"{base}/api/v1/ideas", headers=headers)
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON), case
        assert response.json()["status"] == 401, case

    citizen = await platform.token(f"cit-{uuid.uuid4().hex[:6]}", ["citizen"])
    response = await platform.client.get(f"{base}/api/v1/ideas", headers=citizen)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 403


async def test_wrong_role_cannot_create_and_nothing_is_written(platform: Platform) -> None:
    department_id = await a_department(platform)
    staff = await platform.token(f"st-{uuid.uuid4().hex[:6]}", ["staff"])
    title = f"Nicht erlaubt {uuid.uuid4().hex[:6]}"
    response = await platform.client.post(
        "/api/v1/ideas", json=idea(department_id, title), headers=staff
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert await platform.ideas_scalar("SELECT count(*) FROM ideas WHERE title = :t", t=title) == 0
    written = "SELECT count(*) FROM recorded.outbox WHERE payload->>'title' = :t"
    assert await platform.ideas_scalar(written, t=title) == 0


async def test_gateway_health_openapi_and_undeployed_services(platform: Platform) -> None:
    assert (await platform.client.get("/healthz")).status_code == 200
    ready = await platform.client.get("/readyz")
    assert ready.status_code == 200, ready.text

    document = (await platform.client.get("/openapi.json")).json()
    assert "/api/v1/ideas" in document["paths"]
    assert "/auth/dev/token" in document["paths"] or any(
        path.startswith("/auth/dev") for path in document["paths"]
    )

    staff = await platform.token(f"st-{uuid.uuid4().hex[:6]}", ["staff"])
    response = await platform.client.get("/api/v1/documents/files", headers=staff)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_dev_token_endpoint_rejects_bad_requests(platform: Platform) -> None:
    for body in (
        {},
        {"sub": "", "roles": ["staff"]},
        {"sub": "x", "roles": ["emperor"]},
        {"sub": "x", "roles": "staff"},
        {"sub": "x" * 500, "roles": ["staff"]},
    ):
        response = await platform.client.post("/auth/dev/token", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    response = await platform.client.post(
        "/auth/dev/token", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
