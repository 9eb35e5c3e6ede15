"""The fast paths of SensorThings reads: maintained counts, the latest observation of each
datastream in one expand, keyset paging through ``$skiptoken``; checked against the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from kommune.testing.service import Db, Personas, assert_problem

from .test_sta_update import make_thing, observe

STA = "/sta/v1.1"


def path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def test_latest_of_each_datastream_in_one_expand(
    client: httpx.AsyncClient, people: Personas
) -> None:
    operator = people.operator.headers
    first = await make_thing(client, operator)
    second = await make_thing(client, operator)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
    await observe(
        client,
        operator,
        first["datastream"],
        [[(start + timedelta(minutes=m)).isoformat(), m] for m in (1, 9, 5)],
    )
    await observe(
        client,
        operator,
        second["datastream"],
        [[(start + timedelta(minutes=m)).isoformat(), m] for m in (7, 2)],
    )
    query = (
        f"{STA}/Datastreams?$filter=id eq {first['datastream']} or id eq {second['datastream']}"
        "&$expand=Observations($top=1;$orderby=phenomenonTime desc;$select=result),Thing"
    )
    body = (await client.get(query, headers=operator)).json()
    latest = {
        item["@iot.id"]: [set(o) for o in item["Observations"]]
        + [o["result"] for o in item["Observations"]]
        for item in body["value"]
    }
    members = {"@iot.id", "@iot.selfLink", "result"}
    assert latest == {first["datastream"]: [members, 9.0], second["datastream"]: [members, 7.0]}
    things = {item["@iot.id"]: item["Thing"]["@iot.id"] for item in body["value"]}
    assert things == {first["datastream"]: first["thing"], second["datastream"]: second["thing"]}
    two = (
        await client.get(
            f"{STA}/Things({first['thing']})?$expand=Datastreams($filter=name eq 'nope')",
            headers=operator,
        )
    ).json()
    assert two["Datastreams"] == []
    for bad in (
        "Observations($top=x)",
        "Observations($skip=1)",
        "Observations($top=1",
        "Observations)",
        "Observations($orderby=colour)",
        "Nothing",
    ):
        assert_problem(await client.get(f"{STA}/Datastreams?$expand={bad}", headers=operator), 400)


async def test_keyset_pages_visit_every_observation_once(
    client: httpx.AsyncClient, people: Personas
) -> None:
    operator = people.operator.headers
    refs = await make_thing(client, operator)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    created = await observe(
        client,
        operator,
        refs["datastream"],
        [[(start + timedelta(minutes=m)).isoformat(), m] for m in range(11)],
    )
    url = f"{STA}/Datastreams({refs['datastream']})/Observations?$top=4&$count=true"
    seen: list[int] = []
    pages = 0
    while url:
        body = (await client.get(url, headers=operator)).json()
        seen += [item["@iot.id"] for item in body["value"]]
        pages += 1
        link = body.get("@iot.nextLink")
        if link:
            options = parse_qs(urlsplit(link).query)
            assert "$skiptoken" in options
            assert "$skip" not in options
        url = path(link) if link else ""
    assert seen == sorted(created)
    assert pages == 3
    assert_problem(
        await client.get(f"{STA}/Observations?$skiptoken=5&$orderby=result", headers=operator),
        400,
    )
    assert_problem(await client.get(f"{STA}/Observations?$skiptoken=abc", headers=operator), 400)


async def test_count_of_all_observations_is_the_maintained_total(
    client: httpx.AsyncClient, people: Personas, db: Db
) -> None:
    """The count follows what is stored and deleted (it is the writer's per-datastream counts,
    summed; one datastream's equals its rows)."""
    operator = people.operator.headers
    url = f"{STA}/Observations?$count=true&$top=1"
    refs = await make_thing(client, operator)
    before = (await client.get(url, headers=operator)).json()["@iot.count"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    ids = await observe(
        client,
        operator,
        refs["datastream"],
        [[(start + timedelta(minutes=m)).isoformat(), m] for m in range(3)],
    )
    assert (await client.get(url, headers=operator)).json()["@iot.count"] == before + 3
    assert (
        await client.delete(f"{STA}/Observations({ids[0]})", headers=operator)
    ).status_code == 200
    assert (await client.get(url, headers=operator)).json()["@iot.count"] == before + 2
    one = f"{STA}/Datastreams({refs['datastream']})/Observations?$count=true&$top=1"
    stored = await db.scalar(
        "SELECT count(*) FROM observations WHERE datastream_id = :d", d=refs["datastream"]
    )
    assert (await client.get(one, headers=operator)).json()["@iot.count"] == stored == 2
    # Anonymous callers count the published datastreams' readings only: this one is not.
    anonymous = (await client.get(url)).json()["@iot.count"]
    assert anonymous < before + 2
    published = await db.scalar(
        "SELECT coalesce(sum(observation_count), 0) FROM datastreams d "
        "JOIN things t ON t.id = d.thing_id WHERE t.published"
    )
    assert anonymous == published
