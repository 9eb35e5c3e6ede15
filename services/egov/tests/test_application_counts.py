"""Counts of open applications per department (the gateway's staff dashboard): visibility in SQL."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Api, Cast, Personas, assert_problem


async def _counts(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get("/api/v1/applications/counts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_caseworkers_count_their_departments_open_cases(
    api: Api, cast: Cast, people: Personas, client: httpx.AsyncClient
) -> None:
    before = await _counts(client, cast.buergeramt.headers)
    before_all = await _counts(client, cast.buergeramt.headers, open="false")
    admin_before = await _counts(client, people.admin.headers)
    kept = await api.submit()
    withdrawn = await api.submit()
    await api.move(withdrawn["id"], "withdrawn", cast.citizen)
    assert kept["department"] == "buergeramt"

    after = await _counts(client, cast.buergeramt.headers)
    assert after["group_by"] == "department"
    assert after["open_only"] is True
    assert set(after["counts"]) == {"buergeramt"}  # nothing of another department
    assert after["counts"]["buergeramt"] == before["counts"].get("buergeramt", 0) + 1
    assert after["total"] == sum(after["counts"].values())
    everything = await _counts(client, cast.buergeramt.headers, open="false")
    assert everything["total"] == before_all["total"] + 2

    by_status = await _counts(client, cast.buergeramt.headers, group_by="status", open="false")
    assert by_status["counts"]["withdrawn"] >= 1
    assert set(by_status["counts"]) <= {
        "submitted",
        "acknowledged",
        "needs_info",
        "info_provided",
        "approved",
        "rejected",
        "completed",
        "withdrawn",
    }
    # Another department's caseworker does not see these; the admin sees every department.
    bauhof = await _counts(client, cast.bauhof.headers)
    assert set(bauhof["counts"]) <= {"bauhof"}
    admin = await _counts(client, people.admin.headers)
    assert admin["counts"]["buergeramt"] == admin_before["counts"].get("buergeramt", 0) + 1
    nothing = await _counts(client, cast.no_department.headers)
    assert nothing == {"group_by": "department", "open_only": True, "total": 0, "counts": {}}


async def test_counts_are_for_staff_who_process_applications(
    client: httpx.AsyncClient, cast: Cast, people: Personas
) -> None:
    assert_problem(await client.get("/api/v1/applications/counts"), 401)
    for persona in (cast.citizen, people.staff, people.change_agent, people.nobody):
        assert_problem(
            await client.get("/api/v1/applications/counts", headers=persona.headers), 403
        )
    for bad in ({"group_by": "applicant"}, {"group_by": ""}, {"open": "maybe"}):
        assert_problem(
            await client.get(
                "/api/v1/applications/counts", params=bad, headers=cast.buergeramt.headers
            ),
            422,
        )
