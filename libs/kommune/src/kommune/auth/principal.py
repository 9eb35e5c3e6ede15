"""Who is calling: the verified token's subject and roles, and FastAPI dependencies for them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kommune.errors import Forbidden, Unauthorized


class Role(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"
    CHANGE_AGENT = "change_agent"
    PROJECT_LEAD = "project_lead"
    CASEWORKER = "caseworker"
    RECORDS_MANAGER = "records_manager"
    OPERATOR = "operator"
    ADMIN = "admin"
    INVOICE_INBOX = "invoice_inbox"
    """The service account of the city's e-invoice inbox: hands in e-invoices, nothing else."""


STAFF_ROLES: frozenset[Role] = frozenset(
    {
        Role.STAFF,
        Role.CHANGE_AGENT,
        Role.PROJECT_LEAD,
        Role.CASEWORKER,
        Role.RECORDS_MANAGER,
        Role.OPERATOR,
        Role.ADMIN,
    }
)
"""Every role held by city staff (all except ``citizen`` and the service-account role
``invoice_inbox``)."""


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None
    department: str | None = None

    def has_any(self, *roles: Role | str) -> bool:
        return any(str(role) in self.roles for role in roles)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_staff(self) -> bool:
        return self.has_any(*STAFF_ROLES)


bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",  # the name the gateway's merged OpenAPI uses too
    bearerFormat="JWT",
    description="An OIDC access token (RS256) of the city's identity provider.",
)
"""Parses ``Authorization: Bearer ...``; also declares the security scheme in the OpenAPI."""


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
        return None
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    verifier = request.state.token_verifier
    principal: Principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("A bearer token is required.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that returns the principal if it holds one of ``roles`` (admin always does)."""
    allowed = frozenset(str(role) for role in roles) | {str(Role.ADMIN)}

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.roles & allowed:
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(allowed))}.")
        return principal

    return dependency
