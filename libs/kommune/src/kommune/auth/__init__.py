"""Authentication (OIDC bearer tokens, verified in every service) and role-based permissions."""

from kommune.auth.principal import (
    STAFF_ROLES,
    CurrentPrincipal,
    OptionalPrincipal,
    Principal,
    Role,
    require_roles,
)

__all__ = [
    "STAFF_ROLES",
    "CurrentPrincipal",
    "OptionalPrincipal",
    "Principal",
    "Role",
    "require_roles",
]
