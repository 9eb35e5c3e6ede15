"""The shared permission mechanism and the cursor codec, without a service around them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Uuid

from kommune.app import create_service_app
from kommune.auth.principal import Principal, Role
from kommune.errors import Forbidden, InvalidInput
from kommune.event_factory import AggregateEvents
from kommune.pagination import CursorSigner, Ordering, SortKey, decode_cursor, encode_cursor
from kommune.permissions import AccessPolicy
from kommune.settings import ServiceSettings


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"


def principal(*roles: str) -> Principal:
    return Principal(sub="u", roles=frozenset(roles))


def test_unknown_roles_and_roles_without_a_row_are_denied() -> None:
    policy = AccessPolicy(Permission, {Role.STAFF: {Permission.READ}})
    assert policy.can(principal("staff"), Permission.READ)
    assert not policy.can(principal("staff"), Permission.WRITE)
    assert not policy.can(principal("superuser"), Permission.READ)
    assert not policy.can(principal("admin"), Permission.READ)  # no row: nothing
    with pytest.raises(Forbidden):
        policy.require(principal(), Permission.READ)


def test_incomplete_matrices_are_reported() -> None:
    partial = AccessPolicy(Permission, {Role.STAFF: {Permission.READ}})
    problems = partial.problems()
    assert "role citizen has no row" in problems
    assert "permission write is granted to nobody" in problems
    complete = AccessPolicy(
        Permission,
        {
            role: ({Permission.READ, Permission.WRITE} if role == Role.ADMIN else set())
            for role in Role
        },
    )
    assert complete.problems() == []


metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("big", BigInteger, nullable=False),
    Column("name", String(10), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)


def test_a_nullable_sort_key_is_refused_where_it_is_declared() -> None:
    with pytest.raises(ValueError, match="nullable"):
        SortKey(things.c.deleted_at, "datetime")


def test_a_computed_sort_key_that_is_null_fails_loudly_when_the_cursor_is_made() -> None:
    ordering = Ordering("x", (SortKey(things.c.rank + 1, "int"), SortKey(things.c.id, "uuid")))
    signer = CursorSigner(secrets.token_bytes(32), "svc")
    with pytest.raises(TypeError, match="NULL"):
        encode_cursor(ordering, [None, uuid.uuid4()], signer)


def test_cursor_round_trip_and_refusals() -> None:
    ordering = Ordering(
        "all",
        (
            SortKey(things.c.created_at, "datetime"),
            SortKey(things.c.rank, "int"),
            SortKey(things.c.big, "int"),
            SortKey(things.c.name, "str"),
            SortKey(things.c.id, "uuid"),
        ),
    )
    signer = CursorSigner(secrets.token_bytes(32), "svc")
    values = [datetime(2026, 1, 1, tzinfo=UTC), 2**31 - 1, 2**63 - 1, "Zehn Zeich", uuid.uuid4()]
    cursor = encode_cursor(ordering, values, signer, "f")
    assert decode_cursor(cursor, ordering, signer, "f") == values
    for bad in (
        cursor + "x",
        cursor.replace(".", ".A", 1),
        encode_cursor(ordering, values, CursorSigner(secrets.token_bytes(32), "svc"), "f"),
    ):
        with pytest.raises(InvalidInput):
            decode_cursor(bad, ordering, signer, "f")
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, ordering, signer, "other filters")
    for index, value in ((1, 2**31), (2, 2**63), (3, "elf Zeichen"), (3, "nul\x00")):
        edited = list(values)
        edited[index] = value
        with pytest.raises(InvalidInput):
            decode_cursor(encode_cursor(ordering, edited, signer, "f"), ordering, signer, "f")


def test_a_service_does_not_start_in_production_without_a_cursor_key() -> None:
    issuer = {"oidc_issuer": "https://id.example.org/realms/kommune"}
    unset = ServiceSettings.model_validate({"KOMMUNE_ENVIRONMENT": "production", **issuer})
    with pytest.raises(ValueError, match="KOMMUNE_CURSOR_SECRET"):
        create_service_app(unset, title="no key")
    key = "k" * 32
    configured = ServiceSettings.model_validate(
        {"KOMMUNE_ENVIRONMENT": "production", "KOMMUNE_CURSOR_SECRET": key, **issuer}
    )
    assert configured.cursor_key == key.encode()
    create_service_app(configured, title="with key")
    dev = ServiceSettings.model_validate({"KOMMUNE_ENVIRONMENT": "dev"})
    other_dev = ServiceSettings.model_validate({"KOMMUNE_ENVIRONMENT": "dev"})
    assert len(dev.cursor_key) == 32
    assert dev.cursor_key != other_dev.cursor_key  # random per process (per settings object)


def test_the_event_factory_builds_events_for_its_topic_only() -> None:
    request_event = AggregateEvents("egov.request.v1", "request")
    request_id = uuid.uuid4()
    event = request_event("de.kommune.egov.request.submitted.v1", request_id, {"a": 1})
    assert (event.topic, event.aggregate_type, event.aggregate_id) == (
        "egov.request.v1",
        "request",
        str(request_id),
    )
    assert event.data == {"a": 1}
    with pytest.raises(ValueError, match="does not belong"):
        request_event("de.kommune.egov.appointment.booked.v1", request_id, {})
    with pytest.raises(ValueError, match="not a Kommune event type"):
        request_event("egov.request.submitted", request_id, {})
