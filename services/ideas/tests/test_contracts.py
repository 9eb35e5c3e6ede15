"""Every event type the service emits has a schema, and what the service writes keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
import pytest

from kommune.testing.contracts import check_outbox
from kommune_ideas import events
from kommune_ideas.access import Forum
from kommune_ideas.chronicle.models import EntryKind
from kommune_ideas.ideas.workflow import IdeaStatus
from kommune_ideas.meetings.models import AgendaItemKind
from kommune_schemas import default_registry, model_for
from kommune_schemas.generated import ideas as contract

from .conftest import Api, Db, Personas

PAYLOAD_MODELS: dict[str, type[Any]] = {
    events.IDEA_CREATED: events.IdeaCreatedV1,
    events.IDEA_UPDATED: events.IdeaUpdatedV1,
    events.IDEA_STATUS_CHANGED: events.IdeaStatusChangedV1,
    events.IDEA_COMMENTED: events.IdeaCommentedV1,
    events.IDEA_ENDORSED: events.IdeaEndorsedV1,
    events.IDEA_ENDORSEMENT_WITHDRAWN: events.IdeaEndorsementWithdrawnV1,
    events.MEETING_SCHEDULED: events.MeetingScheduledV1,
    events.MEETING_OUTCOME_RECORDED: events.MeetingOutcomeRecordedV1,
    events.CHRONICLE_PUBLISHED: events.ChroniclePublishedV1,
    events.CHRONICLE_COMMENTED: events.ChronicleCommentedV1,
}


def test_every_emitted_type_has_a_schema_and_a_payload_model() -> None:
    registry = default_registry()
    assert set(PAYLOAD_MODELS) == set(events.EMITTED_TYPES)
    for event_type, model in PAYLOAD_MODELS.items():
        assert model is model_for(event_type), "events re-exports the generated models"
        entry = registry.get(event_type)
        assert entry.topic in {events.IDEA_TOPIC, events.MEETING_TOPIC, events.CHRONICLE_TOPIC}
        # The schema's example is a valid payload for the model, and the model's JSON for it
        # is valid against the schema: model and schema describe the same thing.
        [example] = entry.examples
        dumped = model.model_validate(example).model_dump(mode="json")
        assert registry.errors(event_type, dumped) == []
    assert events.EGOV_SERVICE_PUBLISHED in registry


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (IdeaStatus, contract.IdeaStatus),
        (Forum, contract.Forum),
        (AgendaItemKind, contract.AgendaItemKind),
        (EntryKind, contract.ChronicleEntryKind),
    ],
    ids=["IdeaStatus", "Forum", "AgendaItemKind", "ChronicleEntryKind"],
)
def test_the_service_enums_are_the_contract_enums(
    ours: type[StrEnum], theirs: type[StrEnum]
) -> None:
    """The payload models take the service's enums by value: the values must be the same."""
    assert [member.value for member in ours] == [member.value for member in theirs]


def test_a_new_idea_starts_in_the_initial_status_of_the_contract() -> None:
    assert [member.value for member in contract.InitialIdeaStatus] == [IdeaStatus.IDEA.value]


@pytest.mark.parametrize("event_type", sorted(PAYLOAD_MODELS))
def test_schemas_reject_unknown_fields(event_type: str) -> None:
    registry = default_registry()
    [example] = registry.get(event_type).examples
    assert registry.errors(event_type, {**example, "body": "secret"})


async def test_every_event_type_written_by_the_service_keeps_its_contract(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    ca = people.change_agent
    idea = await api.create_idea()
    path = f"/api/v1/ideas/{idea['id']}"
    await client.patch(path, json={"description": "Neu gefasst."}, headers=ca.headers)
    await client.post(f"{path}/comments", json={"body": "Gut"}, headers=ca.headers)
    await client.post(f"{path}/endorsement", headers=people.staff.headers)
    await client.delete(f"{path}/endorsement", headers=people.staff.headers)
    meeting = await client.post(
        "/api/v1/meetings",
        json={
            "title": "Zirkel",
            "scheduled_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
        headers=ca.headers,
    )
    item = next(i for i in meeting.json()["agenda"] if i["idea_id"] == idea["id"])
    outcome = await client.post(
        f"/api/v1/meetings/{meeting.json()['id']}/agenda-items/{item['id']}/outcome",
        json={"note": "Wird umgesetzt", "status": "in_progress"},
        headers=ca.headers,
    )
    assert outcome.status_code == 200, outcome.text
    news = await client.post(
        "/api/v1/chronicle", json={"title": "Neu", "body": "Text"}, headers=people.admin.headers
    )
    await client.post(
        f"/api/v1/chronicle/{news.json()['id']}/comments",
        json={"body": "Danke"},
        headers=people.staff.headers,
    )
    written = {row["type"] for row in await db.rows("SELECT DISTINCT type FROM recorded.outbox")}
    assert set(events.EMITTED_TYPES) <= written
    assert await check_outbox(db.url) > 0
