"""The role matrix is complete and says what the issue asks: operators and admins manage."""

from __future__ import annotations

from kommune.auth.principal import STAFF_ROLES, Principal, Role
from kommune_sensors.access import POLICY, Permission


def test_the_matrix_is_complete() -> None:
    assert POLICY.problems() == []


def test_only_operators_and_admins_manage_devices_and_import() -> None:
    for permission in (Permission.MANAGE_DEVICES, Permission.INGEST):
        assert POLICY.holders(permission) == {"operator", "admin"}


def test_staff_read_and_citizens_get_nothing() -> None:
    assert POLICY.holders(Permission.READ_DATA) == {str(r) for r in STAFF_ROLES}
    for role in (Role.CITIZEN, Role.INVOICE_INBOX):
        assert POLICY.permissions_of(Principal(sub="c", roles=frozenset({role}))) == frozenset()
    stranger = Principal(sub="x", roles=frozenset({"root"}))
    assert POLICY.permissions_of(stranger) == frozenset()
