"""Who may do what: a service's permission enum and role matrix, checked in one place.

A service declares its permissions as a :class:`~enum.StrEnum` and grants them per role::

    class Permission(StrEnum):
        READ_CASES = "read_cases"
        DECIDE = "decide"

    POLICY = AccessPolicy(
        Permission,
        {Role.CITIZEN: frozenset(), Role.CASEWORKER: frozenset(Permission), ...},
        messages={Permission.DECIDE: "Only caseworkers decide."},
    )
    requires = POLICY.requires

Routes declare the permission they need, ``principal: Annotated[Principal,
Depends(requires(Permission.DECIDE))]``; :class:`kommune.routing.GuardedRoute` checks it before
the request body is read, so a caller without the right gets 403 whatever they send. Services
call :meth:`AccessPolicy.require` for the finer rules, and repositories use
:meth:`AccessPolicy.can` so visibility is part of the SQL.

Deny by default: a role the matrix does not list, or a role of another system in the token,
grants nothing; ``admin`` holds what the matrix gives it (usually everything). Whether the matrix
is complete (a row per role, every permission granted to somebody) is checked by
:meth:`AccessPolicy.problems` in the service's tests, not at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from kommune.auth.principal import CurrentPrincipal, Principal, Role
from kommune.errors import Forbidden

P = TypeVar("P", bound=StrEnum)

DEFAULT_DENIAL = "You may not do this."


class AccessPolicy(Generic[P]):
    """The role matrix of one service."""

    def __init__(
        self,
        permissions: type[P],
        grants: Mapping[Role, Iterable[P]],
        *,
        messages: Mapping[P, str] | None = None,
    ) -> None:
        self.permissions = permissions
        self.grants: dict[str, frozenset[P]] = {
            str(role): frozenset(granted) for role, granted in grants.items()
        }
        self.messages: dict[P, str] = dict(messages or {})

    def permissions_of(self, principal: Principal) -> frozenset[P]:
        granted: set[P] = set()
        for role in principal.roles:
            granted |= self.grants.get(role, frozenset())  # unknown roles grant nothing
        return frozenset(granted)

    def can(self, principal: Principal, permission: P) -> bool:
        return permission in self.permissions_of(principal)

    def require(self, principal: Principal, permission: P) -> None:
        """Raise :class:`~kommune.errors.Forbidden` (403) unless ``principal`` holds it."""
        if not self.can(principal, permission):
            raise Forbidden(self.messages.get(permission, DEFAULT_DENIAL))

    def requires(self, permission: P) -> Requirement[P]:
        """A dependency returning the principal if it holds ``permission`` (401/403 otherwise)."""
        return Requirement(self, permission)

    def holders(self, permission: P) -> frozenset[str]:
        """The roles that hold ``permission``."""
        return frozenset(role for role, granted in self.grants.items() if permission in granted)

    def problems(self) -> list[str]:
        """Why the matrix is incomplete (empty when it is); the service's tests assert ``[]``."""
        found = [f"role {role!s} has no row" for role in Role if str(role) not in self.grants]
        platform_roles = {str(role) for role in Role}
        found += [
            f"{role!r} is not a platform role" for role in self.grants if role not in platform_roles
        ]
        found += [
            f"permission {permission!s} is granted to nobody"
            for permission in self.permissions
            if not self.holders(permission)
        ]
        return found


class Requirement(Generic[P]):
    """``Depends(policy.requires(permission))``: the route's permission, as a dependency.

    :class:`kommune.routing.GuardedRoute` finds these in a route's dependencies and solves them
    before the body is parsed; FastAPI solves them again with the others (the token is verified
    once per request, see :func:`kommune.auth.principal.optional_principal`).
    """

    def __init__(self, policy: AccessPolicy[P], permission: P) -> None:
        self.policy = policy
        self.permission = permission

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        self.policy.require(principal, self.permission)
        return principal

    def __repr__(self) -> str:
        return f"requires({self.permission!s})"
