"""Who calls the gateway: the bearer token verified at the edge (cached, see token_cache)."""

from __future__ import annotations

from fastapi import Request

from kommune.auth.principal import Principal
from kommune.errors import Unauthorized
from kommune_gateway.token_cache import VerifiedTokens


async def authenticate(request: Request) -> Principal:
    """The caller's principal; 401 without a valid ``Authorization: Bearer <token>``."""
    return await verify_bearer(request.headers.get("authorization"), request.state.verified_tokens)


async def verify_bearer(authorization: str | None, tokens: VerifiedTokens) -> Principal:
    """The principal of an ``Authorization`` header's bearer token (401 if there is none)."""
    if not authorization:
        raise Unauthorized("A bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return await tokens.verify(token.strip())
