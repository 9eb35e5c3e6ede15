"""The city's rules for the Ideenspeicher: its labels, and where an "Idee zur Entscheidung" lives.

"Gibt es eine „Idee zur Entscheidung“, wandert das Projekt in das Teilprojektleiter-Forum der
Führungskräfte": while an idea is ``for_decision`` it is out of the store for all staff — not
listed, not found, not counted, 404 by id — but change agents and project leads still see it.
After the decision it is in the store again, with its history.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import Api, Persona, Personas, assert_problem

STORE_ONLY = ("staff", "caseworker")
"""Roles that read the Ideenspeicher and nothing more (one plain, one other staff role)."""
SEE_UNDECIDED = ("change_agent", "other_change_agent", "project_lead", "admin")


def unique_word() -> str:
    """A search term only this test's idea contains (letters only, so search finds it whole)."""
    return "Zauberwort" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


async def sees(client: httpx.AsyncClient, who: Persona, idea_id: str, word: str) -> dict[str, Any]:
    """Everything through which ``who`` could learn of the idea: search, status filter, counts,
    detail, history and the following list."""
    search = await client.get("/api/v1/ideas", params={"q": word}, headers=who.headers)
    assert search.status_code == 200, search.text
    by_status = await client.get(
        "/api/v1/ideas", params={"status": "for_decision", "limit": 100}, headers=who.headers
    )
    assert by_status.status_code == 200, by_status.text
    counts = await client.get("/api/v1/ideas/counts", params={"q": word}, headers=who.headers)
    assert counts.status_code == 200, counts.text
    detail = await client.get(f"/api/v1/ideas/{idea_id}", headers=who.headers)
    history = await client.get(f"/api/v1/ideas/{idea_id}/history", headers=who.headers)
    return {
        "found": [item["id"] for item in search.json()["items"]] == [idea_id],
        "listed_for_decision": idea_id in [item["id"] for item in by_status.json()["items"]],
        "counted": counts.json(),
        "detail": detail,
        "history": history,
    }


async def test_labels_are_the_citys_words(api: Api, people: Personas) -> None:
    idea = await api.create_idea()
    assert idea["status_label"] == "Idee"
    moved = await api.move(idea["id"], "for_decision", people.change_agent)
    assert moved.json()["status_label"] == "Idee zur Entscheidung"
    decided = await api.move(idea["id"], "in_progress", people.project_lead)
    assert decided.json()["status_label"] == "In Bearbeitung"
    done = await api.move(idea["id"], "implemented", people.change_agent)
    assert done.json()["status_label"] == "Umgesetzt"

    other = await api.create_idea()
    await api.move(other["id"], "for_decision", people.change_agent)
    rejected = await api.move(
        other["id"], "rejected", people.project_lead, reason="Kein Budget", note="Verworfen."
    )
    assert rejected.json()["status_label"] == "Verworfen"


@pytest.mark.parametrize("decision", ["in_progress", "rejected"])
async def test_an_idea_for_decision_leaves_the_store_until_the_leaders_decide(
    api: Api, client: httpx.AsyncClient, people: Personas, decision: str
) -> None:
    word = unique_word()
    idea = await api.create_idea(title=f"Vorlage {word}", description=f"Mehr zu {word}.")
    idea_id = idea["id"]

    # Status "idea": in the store for everybody.
    for name in STORE_ONLY + SEE_UNDECIDED:
        seen = await sees(client, people.by_name(name), idea_id, word)
        assert seen["found"], name
        assert seen["detail"].status_code == 200, name

    await api.move(idea_id, "for_decision", people.change_agent, note="An die Leitung.")

    # "Idee zur Entscheidung": out of the store for plain staff ...
    for name in STORE_ONLY:
        who = people.by_name(name)
        seen = await sees(client, who, idea_id, word)
        assert not seen["found"], name
        assert not seen["listed_for_decision"], name
        assert seen["counted"]["total"] == 0, (name, seen["counted"])
        assert seen["counted"]["by_status"]["for_decision"] == 0, name
        assert_problem(seen["detail"], 404)
        assert_problem(seen["history"], 404)
        # ... nor can they act on it as if they had seen it.
        for method, path in [
            ("POST", f"/api/v1/ideas/{idea_id}/endorsement"),
            ("PUT", f"/api/v1/ideas/{idea_id}/follow"),
        ]:
            assert_problem(await client.request(method, path, headers=who.headers), 404)
        following = await client.get(
            "/api/v1/ideas", params={"following": "true", "q": word}, headers=who.headers
        )
        assert following.json()["items"] == []

    # ... but the change agents (their forum) and the project leads (theirs) still see it.
    for name in SEE_UNDECIDED:
        seen = await sees(client, people.by_name(name), idea_id, word)
        assert seen["found"], name
        assert seen["listed_for_decision"], name
        assert seen["counted"]["by_status"]["for_decision"] == 1, name
        assert seen["detail"].status_code == 200, name
        assert seen["detail"].json()["status_label"] == "Idee zur Entscheidung"
        assert seen["history"].status_code == 200, name

    # The leaders decide: back in the store for every staff member, with its whole history.
    reason = "Kein Budget 2027." if decision == "rejected" else None
    await api.move(idea_id, decision, people.project_lead, note="Entschieden.", reason=reason)
    for name in STORE_ONLY + SEE_UNDECIDED:
        seen = await sees(client, people.by_name(name), idea_id, word)
        assert seen["found"], name
        assert seen["counted"]["by_status"][decision] == 1, name
        assert seen["detail"].status_code == 200, name
        steps = [(h["from_status"], h["to_status"]) for h in seen["history"].json()["items"]]
        assert steps == [(None, "idea"), ("idea", "for_decision"), ("for_decision", decision)]
