"""The mailbox: only one's own messages, read and unread, newest first, paged."""

from __future__ import annotations

import uuid

import httpx

from .conftest import Api, Cast, Db, assert_problem


async def test_read_and_unread(api: Api, cast: Cast, client: httpx.AsyncClient, db: Db) -> None:
    created = await api.submit()
    await api.move(created["id"], "acknowledged", cast.buergeramt)
    messages = await api.mailbox(cast.citizen, application_id=created["id"])
    assert [m["kind"] for m in messages] == ["status_changed", "submitted"]  # newest first
    assert all(not m["read"] for m in messages)
    newest = messages[0]
    assert "In Bearbeitung" in newest["subject"]
    response = await client.patch(
        f"/api/v1/mailbox/{newest['id']}", json={"read": True}, headers=cast.citizen.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["read"] is True
    unread = await api.mailbox(cast.citizen, application_id=created["id"], unread="true")
    assert [m["id"] for m in unread] == [messages[1]["id"]]
    read = await api.mailbox(cast.citizen, application_id=created["id"], unread="false")
    assert [m["id"] for m in read] == [newest["id"]]
    response = await client.patch(
        f"/api/v1/mailbox/{newest['id']}", json={"read": False}, headers=cast.citizen.headers
    )
    assert response.json()["read"] is False
    one = await client.get(f"/api/v1/mailbox/{newest['id']}", headers=cast.citizen.headers)
    assert one.json()["body"]


async def test_another_citizens_messages_do_not_exist(
    api: Api, cast: Cast, client: httpx.AsyncClient, db: Db
) -> None:
    created = await api.submit()
    [message] = await api.mailbox(cast.citizen, application_id=created["id"])
    for request in (
        client.get(f"/api/v1/mailbox/{message['id']}", headers=cast.other_citizen.headers),
        client.patch(
            f"/api/v1/mailbox/{message['id']}",
            json={"read": True},
            headers=cast.other_citizen.headers,
        ),
        client.get(f"/api/v1/mailbox/{uuid.uuid4()}", headers=cast.citizen.headers),
    ):
        assert_problem(await request, 404)
    theirs = await api.mailbox(cast.other_citizen, limit=100)
    assert message["id"] not in {m["id"] for m in theirs}
    assert (
        await db.scalar(
            "SELECT read_at FROM mailbox_messages WHERE id = :id", id=uuid.UUID(message["id"])
        )
        is None
    )
    for bad in ({"read": "vielleicht"}, {}, {"read": True, "extra": 1}):
        assert_problem(
            await client.patch(
                f"/api/v1/mailbox/{message['id']}", json=bad, headers=cast.citizen.headers
            ),
            422,
        )
    assert_problem(
        await client.get(
            "/api/v1/mailbox", params={"limit": 2, "cursor": "x.y"}, headers=cast.citizen.headers
        ),
        422,
    )


async def test_the_mailbox_pages_with_a_cursor(
    api: Api, cast: Cast, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await api.submit(by=cast.other_citizen)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/mailbox", params=params, headers=cast.other_citizen.headers)
        ).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 3
