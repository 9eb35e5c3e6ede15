"""The gateway's own role matrix is complete; the e-invoice inbox's account gets nothing here."""

from __future__ import annotations

from kommune.auth.principal import Principal, Role
from kommune_gateway.access import POLICY


def test_the_matrix_is_complete() -> None:
    assert POLICY.problems() == []


def test_the_einvoice_inbox_and_unknown_roles_get_nothing_here() -> None:
    inbox = Principal(sub="svc", roles=frozenset({Role.INVOICE_INBOX}))
    assert POLICY.permissions_of(inbox) == frozenset()
    assert POLICY.permissions_of(Principal(sub="x", roles=frozenset({"root"}))) == frozenset()
