"""The role matrix: complete, citizens locked out of the E-Akte, managers only where it says."""

from __future__ import annotations

import httpx
import pytest

from kommune.auth.principal import Principal
from kommune.testing.service import Personas, assert_problem
from kommune_documents.access import POLICY, Permission

from .conftest import DocDb


def test_the_matrix_is_complete() -> None:
    assert POLICY.problems() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/fileplan"),
        ("GET", "/api/v1/files"),
        ("POST", "/api/v1/files"),
        ("GET", "/api/v1/documents"),
        ("POST", "/api/v1/documents"),
        ("GET", "/api/v1/search?q=Bauantrag"),
    ],
)
async def test_citizens_and_people_without_a_role_have_no_access(
    client: httpx.AsyncClient, people: Personas, db: DocDb, method: str, path: str
) -> None:
    before = await db.snapshot()
    for who in (people.citizen, people.nobody):
        response = await client.request(method, path, headers=who.headers, json={})
        assert_problem(response, 403)
    assert_problem(await client.request(method, path), 401)
    assert await db.snapshot() == before


@pytest.mark.parametrize(
    "role", ["staff", "change_agent", "project_lead", "operator", "caseworker", "records_manager"]
)
async def test_every_staff_role_reads_the_file_plan(
    client: httpx.AsyncClient, people: Personas, role: str
) -> None:
    response = await client.get("/api/v1/fileplan?limit=5", headers=people.by_name(role).headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"]


def test_who_holds_what() -> None:
    assert POLICY.holders(Permission.MANAGE_FILEPLAN) == {"records_manager", "admin"}
    assert POLICY.holders(Permission.ALL_FILES) == {"records_manager", "admin"}
    assert POLICY.holders(Permission.READ_AUDIT) == {"records_manager", "admin"}
    assert POLICY.holders(Permission.CREATE_FILES) == {"caseworker", "records_manager", "admin"}
    assert "citizen" not in POLICY.holders(Permission.READ_FILES)
    assert POLICY.holders(Permission.SUBMIT_INVOICES) == {
        "records_manager",
        "admin",
        "invoice_inbox",
    }
    assert POLICY.holders(Permission.RECEIVE_INVOICES) == {"records_manager", "admin"}


def test_the_einvoice_inbox_may_only_hand_in_invoices() -> None:
    inbox = Principal(sub="svc", roles=frozenset({"invoice_inbox"}))
    assert POLICY.permissions_of(inbox) == {Permission.SUBMIT_INVOICES}
