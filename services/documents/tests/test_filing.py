"""Applications from egov are filed exactly once and egov is told the file number."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kommune.events.outbox import DomainEvent
from kommune.events.topics import physical_topic
from kommune.testing.conditions import wait_until
from kommune.testing.contracts import AssertEventValid
from kommune.testing.infra import OpenProbe, produce_events
from kommune_documents import events
from kommune_documents.settings import DocumentsSettings

from .conftest import DocDb


def submitted(application_id: uuid.UUID, service_code: str, **extra: Any) -> DomainEvent:
    return DomainEvent(
        topic=events.EGOV_APPLICATION_TOPIC,
        type=events.EGOV_APPLICATION_SUBMITTED,
        aggregate_type="application",
        aggregate_id=str(application_id),
        subject=str(application_id),
        data={
            "application_id": str(application_id),
            "reference": f"A-2026-{application_id.hex[:6]}",
            "service_code": service_code,
            "service_name": "Anwohnerparkausweis",
            "department": "ordnungsamt",
            "submitted_at": datetime.now(UTC).isoformat(),
            **extra,
        },
    )


async def test_a_submission_delivered_twice_is_filed_once(
    client: object,
    db: DocDb,
    settings: DocumentsSettings,
    kafka_bootstrap_servers: str,
    kafka_probe: OpenProbe,
    assert_event_valid: AssertEventValid,
) -> None:
    service_code = f"parkausweis-{uuid.uuid4().hex[:6]}"
    first_id, second_id = uuid.uuid4(), uuid.uuid4()
    event = submitted(first_id, service_code, applicant_hint="ignored by the tolerant reader")
    redelivered_under_new_id = submitted(first_id, service_code)
    second = submitted(second_id, service_code)
    filing_topic = physical_topic(settings.kafka_topic_prefix, events.FILING_TOPIC)
    probe = await kafka_probe(filing_topic)
    egov_topic = physical_topic(settings.kafka_topic_prefix, settings.egov_application_topic)
    await produce_events(
        kafka_bootstrap_servers,
        *(
            (egov_topic, e, "/kommune/egov")
            for e in (event, event, redelivered_under_new_id, second)
        ),
    )

    async def both_filed() -> Any:
        return (
            await db.scalar(
                "SELECT count(*) FROM processes WHERE source_id IN (:a, :b)",
                a=first_id,
                b=second_id,
            )
            == 2
        )

    await wait_until(both_filed, deadline=45)
    processes = await db.rows(
        "SELECT p.id, p.source_id, p.file_id, p.title, p.reference, p.sequence, f.file_number,"
        " f.department,"
        " f.source_key FROM processes p JOIN case_files f ON f.id = p.file_id"
        " WHERE p.source = 'egov.application' AND p.source_id IN (:a, :b) ORDER BY p.sequence",
        a=first_id,
        b=second_id,
    )
    assert len(processes) == 2
    assert processes[0]["file_id"] == processes[1]["file_id"]  # one file per service and year
    # The two applications are two aggregates (two keys, maybe two partitions): filed in either
    # order, numbered in the order they were filed.
    assert [p["sequence"] for p in processes] == [1, 2]
    [first] = [p for p in processes if p["source_id"] == first_id]
    assert first["department"] == "ordnungsamt"
    assert first["file_number"].startswith(f"{settings.egov_plan_code}/")
    assert first["title"] == f"Antrag A-2026-{first_id.hex[:6]}: Anwohnerparkausweis"

    filed = await probe.events(lambda e: e.subject in {str(first_id), str(second_id)}, count=2)
    assert {e.subject for e in filed} == {str(first_id), str(second_id)}
    for item in filed:
        assert item.type == events.FILING_FILED
        assert_event_valid(item.type, item.data)
    data = next(e.data for e in filed if e.subject == str(first_id))
    assert data == {
        "source": "egov.application",
        "source_id": str(first_id),
        "file_id": str(first["file_id"]),
        "file_number": first["file_number"],
        "process_id": str(first["id"]),
        "filed_at": data["filed_at"],
    }
    # Nothing more will come: the outbox holds one filed event per application.
    assert (
        await db.scalar(
            "SELECT count(*) FROM recorded.outbox WHERE type = :t AND payload->>'source_id' = :id",
            t=events.FILING_FILED,
            id=str(first_id),
        )
        == 1
    )
    assert (
        await db.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'application.filed'"
            " AND detail->>'application_id' = :id",
            id=str(first_id),
        )
        == 1
    )
