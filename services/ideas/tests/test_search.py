"""German full-text search: stems, parts of compound words, ranking, filters, visibility."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from .conftest import Api, Db, Personas, assert_problem


async def search(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> list[str]:
    response = await client.get(f"/api/v1/ideas?limit=100&{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
async def corpus(api: Api) -> dict[str, str]:
    """Ideas with a unique marker word each, so other tests' ideas do not interfere."""
    marker = "zx" + uuid.uuid4().hex[:8]
    ideas = {
        "plural": await api.create_idea(
            title=f"Rechnungen schneller bezahlen {marker}",
            description="Alle Belege digital.",
        ),
        "compound": await api.create_idea(
            title=f"Neuer Ablauf {marker}",
            problem_statement="Der Eingangsrechnungsworkflow ist langsam.",
        ),
        "other": await api.create_idea(
            title=f"Parkausweise online {marker}",
            problem_statement="Anwohnerparken braucht Papierformulare.",
            proposed_solution="Online-Antrag.",
            added_value="Weniger Wartezeit.",
            description="Bürgeramt.",
            tags=["bürgeramt"],
        ),
    }
    result = {name: idea["id"] for name, idea in ideas.items()}
    result["marker"] = marker
    return result


async def test_a_stem_finds_inflected_forms(
    client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    found = await search(client, people.staff.headers, f"q=Rechnung {corpus['marker']}")
    assert corpus["plural"] in found  # Rechnung → Rechnungen (german stemming)
    assert corpus["other"] not in found


async def test_part_of_a_compound_word_is_found(
    client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    marker = corpus["marker"]
    found = await search(client, people.staff.headers, f"q=Rechnung {marker}")
    assert corpus["compound"] in found  # Rechnung → Eingangsrechnungsworkflow (pg_trgm)
    assert corpus["plural"] in found
    assert corpus["other"] not in found
    found = await search(client, people.staff.headers, f"q=workflow {marker}")
    assert found == [corpus["compound"]]


async def test_stem_and_case_and_umlauts(
    client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    assert corpus["other"] in await search(client, people.staff.headers, "q=BÜRGERAMT")
    assert corpus["other"] in await search(
        client, people.staff.headers, "q=parken"
    )  # Anwohnerparken
    assert corpus["other"] in await search(client, people.staff.headers, "q=Formular")


async def test_title_hits_rank_first(
    client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    found = await search(client, people.staff.headers, f"q=Rechnung {corpus['marker']}")
    assert found[0] == corpus["plural"]  # in the title (weight A) beats the problem (weight B)


async def test_search_combines_with_filters_and_sorts(
    api: Api, client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    await api.move(corpus["compound"], "in_progress", people.change_agent)
    found = await search(client, people.staff.headers, "q=Rechnung&status=in_progress")
    assert corpus["compound"] in found
    assert corpus["plural"] not in found
    newest = await search(client, people.staff.headers, f"q={corpus['marker']}&sort=newest")
    assert newest == [corpus["other"], corpus["compound"], corpus["plural"]]


async def test_search_never_shows_what_the_caller_may_not_see(
    api: Api, client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    # Words that only appear in a forum are not searchable through the store.
    secret = "geheim" + uuid.uuid4().hex[:6]
    await client.post(
        f"/api/v1/ideas/{corpus['other']}/comments",
        json={"body": f"Intern: {secret}"},
        headers=people.change_agent.headers,
    )
    for persona in ("staff", "change_agent", "project_lead", "admin"):
        assert await search(client, people.by_name(persona).headers, f"q={secret}") == []
    # Search results carry forum counts only for the forum's readers.
    response = await client.get(f"/api/v1/ideas?q={corpus['marker']}", headers=people.staff.headers)
    assert {item["comment_count"] for item in response.json()["items"]} == {None}
    # A citizen cannot search at all.
    response = await client.get("/api/v1/ideas?q=Rechnung", headers=people.citizen.headers)
    assert_problem(response, 403)


@pytest.mark.parametrize("query", ["%", "_", "100%", "a_b", "' OR 1=1 --", "\\", "Rechnung & | !"])
async def test_special_characters_are_plain_text(
    client: httpx.AsyncClient, people: Personas, query: str
) -> None:
    response = await client.get("/api/v1/ideas", params={"q": query}, headers=people.staff.headers)
    assert response.status_code in (200, 422), response.text


async def test_the_planner_can_use_the_search_indexes(db: Db) -> None:
    """EXPLAIN with sequential scans discouraged: both search indexes are usable."""
    async with db.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        plan = (
            (
                await connection.execute(
                    text(
                        "EXPLAIN SELECT id FROM ideas "
                        "WHERE search_vector @@ websearch_to_tsquery('german', 'Rechnung') "
                        "OR search_text LIKE '%rechnung%'"
                    )
                )
            )
            .scalars()
            .all()
        )
    rendered = "\n".join(plan)
    assert "ix_ideas_search_vector" in rendered
    assert "ix_ideas_search_text_trgm" in rendered


async def test_counts_agree_with_the_list(
    api: Api, client: httpx.AsyncClient, people: Personas, corpus: dict[str, str]
) -> None:
    await api.move(corpus["other"], "for_decision", people.change_agent)
    query = f"q={corpus['marker']}"
    counts = await client.get(f"/api/v1/ideas/counts?{query}", headers=people.change_agent.headers)
    assert counts.status_code == 200, counts.text
    body = counts.json()
    listed = await search(client, people.change_agent.headers, query)
    assert body["total"] == len(listed) == 3
    assert body["by_status"] == {
        "idea": 2,
        "in_progress": 0,
        "implemented": 0,
        "rejected": 0,
        "for_decision": 1,
    }
    # For plain staff an idea for decision is out of the store: the counts agree with their list.
    staff_counts = (
        await client.get(f"/api/v1/ideas/counts?{query}", headers=people.staff.headers)
    ).json()
    assert staff_counts["total"] == len(await search(client, people.staff.headers, query)) == 2
    assert staff_counts["by_status"]["for_decision"] == 0
    assert_problem(
        await client.get(f"/api/v1/ideas/counts?{query}", headers=people.citizen.headers), 403
    )
    assert_problem(
        await client.get("/api/v1/ideas/counts?status=nope", headers=people.staff.headers), 422
    )
