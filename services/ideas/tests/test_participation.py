"""Endorsements (one per person, withdrawable) and follows."""

from __future__ import annotations

import uuid

import httpx

from .conftest import Api, Db, Personas, assert_problem


async def test_one_endorsement_per_person_and_withdrawable(
    api: Api, client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    idea = await api.create_idea()
    path = f"/api/v1/ideas/{idea['id']}/endorsement"
    first = await client.post(path, headers=people.staff.headers)
    assert first.status_code == 201
    assert first.json() == {"idea_id": idea["id"], "endorsed_by_me": True, "endorsement_count": 1}
    before = await db.snapshot(idea["id"])
    assert_problem(await client.post(path, headers=people.staff.headers), 409)
    assert await db.snapshot(idea["id"]) == before
    second = await client.post(path, headers=people.project_lead.headers)
    assert second.json()["endorsement_count"] == 2

    detail = (await client.get(f"/api/v1/ideas/{idea['id']}", headers=people.staff.headers)).json()
    assert (detail["endorsement_count"], detail["endorsed_by_me"]) == (2, True)
    other = (
        await client.get(f"/api/v1/ideas/{idea['id']}", headers=people.caseworker.headers)
    ).json()
    assert other["endorsed_by_me"] is False

    withdrawn = await client.delete(path, headers=people.staff.headers)
    assert withdrawn.status_code == 204
    before = await db.snapshot(idea["id"])
    assert_problem(await client.delete(path, headers=people.staff.headers), 404)
    assert await db.snapshot(idea["id"]) == before
    detail = (await client.get(f"/api/v1/ideas/{idea['id']}", headers=people.staff.headers)).json()
    assert (detail["endorsement_count"], detail["endorsed_by_me"]) == (1, False)
    types = [
        row["type"]
        for row in await db.rows(
            "SELECT type FROM recorded.outbox WHERE aggregateid = :id ORDER BY seq", id=idea["id"]
        )
    ]
    assert types == [
        "de.kommune.ideas.idea.created.v1",
        "de.kommune.ideas.idea.endorsed.v1",
        "de.kommune.ideas.idea.endorsed.v1",
        "de.kommune.ideas.idea.endorsement_withdrawn.v1",
    ]


async def test_follow_and_list_what_i_follow(
    api: Api, client: httpx.AsyncClient, people: Personas
) -> None:
    followed = await api.create_idea(title="Ich folge dieser Idee")
    await api.create_idea(title="Dieser nicht")
    path = f"/api/v1/ideas/{followed['id']}/follow"
    follower = people.make(f"st-follower-{uuid.uuid4().hex[:6]}", ["staff"], "Fritz Folger")
    headers = follower.headers
    assert (await client.put(path, headers=headers)).status_code == 204
    assert (await client.put(path, headers=headers)).status_code == 204  # idempotent
    mine = (await client.get("/api/v1/ideas?following=true", headers=headers)).json()["items"]
    assert [item["id"] for item in mine] == [followed["id"]]
    detail = (await client.get(f"/api/v1/ideas/{followed['id']}", headers=headers)).json()
    assert detail["following"] is True
    assert (await client.delete(path, headers=headers)).status_code == 204
    mine = (await client.get("/api/v1/ideas?following=true", headers=headers)).json()["items"]
    assert mine == []


async def test_filters_by_author_department_and_tag(
    api: Api, client: httpx.AsyncClient, people: Personas, department: dict[str, str]
) -> None:
    theirs = await api.create_idea(author=people.other_change_agent, tags=["fuhrpark"])
    headers = people.staff.headers
    by_author = (
        await client.get(
            f"/api/v1/ideas?author={people.other_change_agent.sub}&limit=100", headers=headers
        )
    ).json()["items"]
    assert theirs["id"] in [i["id"] for i in by_author]
    assert {i["author"]["id"] for i in by_author} == {people.other_change_agent.sub}
    mine = (
        await client.get("/api/v1/ideas?author=me", headers=people.other_change_agent.headers)
    ).json()["items"]
    assert {i["author"]["id"] for i in mine} == {people.other_change_agent.sub}
    by_tag = (await client.get("/api/v1/ideas?tag=Fuhrpark", headers=headers)).json()["items"]
    assert theirs["id"] in [i["id"] for i in by_tag]
    by_department = (
        await client.get(f"/api/v1/ideas?department_id={department['id']}&limit=5", headers=headers)
    ).json()["items"]
    assert {i["department"]["id"] for i in by_department} == {department["id"]}
