"""Input the database cannot take (or that only looks like other input) never reaches it.

Each kind of input (body field, nested body field, list item, query parameter, path parameter)
with a NUL, another control character or a lone surrogate is a 422 naming the field, and
nothing changes in the database or the outbox. Before, a NUL in any text field or in ``q`` was
a 500 (PostgreSQL: invalid byte sequence 0x00 / unsupported Unicode escape in JSONB).
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kommune.schemas import STARTED_IN_YEAR

from .conftest import Api, Db, Personas, assert_problem, idea_body

BAD_TEXT = {
    "nul": "Papier\x00los",
    "bell": "Papier\x07los",
    "escape": "Papier\x1b[31mlos",
    "surrogate": "Papier\ud800los",
}


def _json(payload: Any) -> bytes:
    """JSON with lone surrogates as ``\\ud800`` escapes, as a hostile client sends them."""
    return json.dumps(payload, ensure_ascii=True).encode()


def _cases() -> list[tuple[str, str, str, Any]]:
    cases: list[tuple[str, str, str, Any]] = []
    for kind, bad in BAD_TEXT.items():
        cases += [
            (f"idea title {kind}", "title", "idea", {"title": bad}),
            (f"idea description {kind}", "description", "idea", {"description": bad}),
            (f"idea tag {kind}", "tags", "idea", {"tags": ["ok-tag", bad]}),
            (f"comment {kind}", "body", "comment", {"body": bad}),
            (f"meeting participant {kind}", "participants", "meeting", {"user_id": bad}),
            (f"faq question {kind}", "question", "faq", {"question": bad}),
            (f"department code {kind}", "code", "department", {"code": bad}),
            (f"idea patch {kind}", "title", "patch", {"title": bad}),
            (f"status note {kind}", "note", "status", {"note": bad}),
        ]
    return cases


def _request(
    target: str, change: dict[str, Any], department_id: str, idea_id: str
) -> tuple[str, str, dict[str, Any]]:
    if target == "idea":
        return "POST", "/api/v1/ideas", idea_body(department_id, **change)
    if target == "comment":
        return "POST", f"/api/v1/ideas/{idea_id}/comments", change
    if target == "meeting":
        body = {
            "title": "Innovationszirkel",
            "scheduled_at": (datetime.now(UTC) + timedelta(days=60)).isoformat(),
            "participants": [change],
        }
        return "POST", "/api/v1/meetings", body
    if target == "faq":
        return "POST", "/api/v1/faq", {"question": "Wie?", "answer": "So.", **change}
    if target == "department":
        return "POST", "/api/v1/departments", {"name": "Bauamt", **change}
    if target == "patch":
        return "PATCH", f"/api/v1/ideas/{idea_id}", change
    assert target == "status"
    return "POST", f"/api/v1/ideas/{idea_id}/status", {"status": "in_progress", **change}


@pytest.mark.parametrize(
    ("case", "field", "target", "change"), _cases(), ids=[c[0] for c in _cases()]
)
async def test_unstorable_text_in_a_body_is_422_naming_the_field(
    api: Api,
    client: httpx.AsyncClient,
    people: Personas,
    department: dict[str, Any],
    db: Db,
    case: str,
    field: str,
    target: str,
    change: dict[str, Any],
) -> None:
    idea = await api.create_idea()
    method, path, body = _request(target, change, department["id"], idea["id"])
    before = await db.snapshot(idea["id"])
    response = await client.request(
        method,
        path,
        content=_json(body),
        headers={**people.admin.headers, "content-type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert field in problem["detail"]
    assert any(error["loc"][:2] == ["body", field] for error in problem["errors"]), problem
    assert await db.snapshot(idea["id"]) == before


@pytest.mark.parametrize(
    "query",
    [
        "q=Papier%00los",
        "q=Papier%07los",
        "q=%1B%5B31m",
        "author=ca-anna%00",
        "tag=e-akte%00",
        "tag=%D0%B5-akte",  # Cyrillic U+0435 followed by Latin letters
    ],
)
async def test_unstorable_or_lookalike_query_parameter_is_422(
    client: httpx.AsyncClient, people: Personas, query: str
) -> None:
    name = query.split("=")[0]
    for path in ("/api/v1/ideas", "/api/v1/ideas/counts"):
        response = await client.get(f"{path}?{query}", headers=people.staff.headers)
        problem = assert_problem(response, 422)
        assert ["query", name] == problem["errors"][0]["loc"][:2]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/ideas/%00", "/api/v1/meetings/ab%00cd", "/api/v1/faq/%ED%A0%80"],
)
async def test_unstorable_path_parameter_is_422(
    client: httpx.AsyncClient, people: Personas, path: str
) -> None:
    problem = assert_problem(await client.get(path, headers=people.admin.headers), 422)
    assert problem["errors"][0]["loc"][0] == "path"


async def test_lone_surrogate_in_an_unknown_field_name_is_a_clean_422(
    client: httpx.AsyncClient, people: Personas, department: dict[str, Any], db: Db
) -> None:
    before = await db.snapshot()
    body = {**idea_body(department["id"]), "\ud800": "x"}
    response = await client.post(
        "/api/v1/ideas",
        content=_json(body),
        headers={**people.change_agent.headers, "content-type": "application/json"},
    )
    problem = assert_problem(response, 422)
    # pydantic refuses the name itself; the answer is a clean problem, not a 500 on encoding.
    assert problem["errors"][0]["loc"][0] == "body"
    assert await db.snapshot() == before


async def test_text_is_stored_in_nfc(api: Api) -> None:
    decomposed = "Cafe\u0301 im Rathaus"
    idea = await api.create_idea(title=decomposed, description="Gru\u0308n\nund\tmehr")
    assert idea["title"] == unicodedata.normalize("NFC", decomposed) == "Café im Rathaus"
    assert idea["description"] == "Grün\nund\tmehr"


async def test_fullwidth_and_case_variants_are_one_tag(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    marker = uuid.uuid4().hex[:8]
    idea = await api.create_idea(
        tags=[f"E-Akte-{marker}", f"\uff45-\uff41\uff4b\uff54\uff45-{marker}", f"e-akte-{marker}"]
    )
    assert idea["tags"] == [f"e-akte-{marker}"]
    for tag in (f"\uff25-AKTE-{marker}", f"e-akte-{marker}"):
        listed = await client.get(
            "/api/v1/ideas", params={"tag": tag}, headers=people.staff.headers
        )
        assert [item["id"] for item in listed.json()["items"]] == [idea["id"]]


@pytest.mark.parametrize(
    "tag",
    [
        "\u0435-akte",  # Cyrillic U+0435 + Latin
        "\u0430\u043a\u0442\u0435",  # all Cyrillic
        "\u03b1\u03ba\u03c4\u03b5",  # Greek
        "e\u200bakte",  # zero-width space
        "e-akte\u0301\u0301",  # stacked combining marks stay outside the folded alphabet
    ],
)
async def test_lookalike_tags_are_422_and_change_nothing(
    client: httpx.AsyncClient, people: Personas, department: dict[str, Any], db: Db, tag: str
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/ideas",
        json=idea_body(department["id"], tags=[tag]),
        headers=people.change_agent.headers,
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "tags"]
    assert await db.snapshot() == before


async def test_department_code_is_folded(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    marker = uuid.uuid4().hex[:6]
    response = await client.post(
        "/api/v1/departments",
        json={"code": f"\uff21MT-{marker.upper()}", "name": f"Amt {marker}"},
        headers=people.admin.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["code"] == f"amt-{marker}"
    again = await client.post(
        "/api/v1/departments",
        json={"code": f"amt-{marker}", "name": f"Anderes Amt {marker}"},
        headers=people.admin.headers,
    )
    assert_problem(again, 409)


FIRST_YEAR, LAST_YEAR = STARTED_IN_YEAR - 1, STARTED_IN_YEAR + 5


@pytest.mark.parametrize(
    "scheduled_at",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "7718-05-01T10:00:00+02:00",
        f"{LAST_YEAR + 1}-01-01T00:00:00+00:00",
        f"{FIRST_YEAR - 1}-12-31T23:59:59+00:00",
    ],
)
async def test_meeting_date_out_of_range_is_422_and_changes_nothing(
    client: httpx.AsyncClient, people: Personas, db: Db, scheduled_at: str
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/meetings",
        json={"title": "Innovationszirkel", "scheduled_at": scheduled_at},
        headers=people.change_agent.headers,
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "scheduled_at"]
    assert await db.snapshot() == before


async def test_meeting_dates_inside_the_window_are_accepted(
    client: httpx.AsyncClient, people: Personas
) -> None:
    for scheduled_at in (
        f"{FIRST_YEAR}-01-01T00:00:00+14:00",  # the first year as written (UTC: the year before)
        f"{LAST_YEAR}-12-31T23:59:59-14:00",  # the last year as written (UTC: the year after)
        (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    ):
        response = await client.post(
            "/api/v1/meetings",
            json={"title": "Innovationszirkel", "scheduled_at": scheduled_at},
            headers=people.change_agent.headers,
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("position", [2**31, -1, 100_001, 1.5, "3"])
async def test_numbers_beyond_their_column_are_422(
    client: httpx.AsyncClient, people: Personas, db: Db, position: Any
) -> None:
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/faq",
        json={"question": "Wo parke ich?", "answer": "Im Hof.", "position": position},
        headers=people.admin.headers,
    )
    assert_problem(response, 422)
    assert await db.snapshot() == before


async def test_link_longer_than_its_column_is_422(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    # Found by schemathesis: a 2,000-character URL grew by its normalised "/" and was a 500.
    host = ".".join(["a" * 63] * 31)[:1990]
    before = await db.snapshot()
    response = await client.post(
        "/api/v1/chronicle",
        json={"title": "Neues aus dem Rathaus", "body": "Text", "link_url": f"https://{host}"},
        headers=people.admin.headers,
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "link_url"]
    assert await db.snapshot() == before
