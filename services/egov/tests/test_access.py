"""The permission matrix is complete: a row for every platform role, every permission held."""

from __future__ import annotations

from kommune.auth.principal import Principal, Role
from kommune_egov.access import POLICY, Permission


def test_matrix_is_complete() -> None:
    assert POLICY.problems() == []


def test_citizens_apply_caseworkers_process() -> None:
    citizen = Principal("c", frozenset({Role.CITIZEN}))
    caseworker = Principal("w", frozenset({Role.CASEWORKER}), department="bauhof")
    staff = Principal("s", frozenset({Role.STAFF}))
    assert POLICY.can(citizen, Permission.SUBMIT_APPLICATION)
    assert not POLICY.can(citizen, Permission.PROCESS_APPLICATIONS)
    assert POLICY.can(caseworker, Permission.PROCESS_APPLICATIONS)
    assert not POLICY.can(caseworker, Permission.SUBMIT_APPLICATION)
    assert POLICY.permissions_of(staff) == frozenset()
    inbox = Principal("i", frozenset({Role.INVOICE_INBOX}))  # the e-invoice inbox: documents only
    assert POLICY.permissions_of(inbox) == frozenset()
    assert POLICY.permissions_of(Principal("x", frozenset({"unknown"}))) == frozenset()
