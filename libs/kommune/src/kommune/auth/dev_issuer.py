"""The local development and test OIDC issuer: signs Keycloak-shaped RS256 access tokens.

It speaks just enough OIDC for :class:`kommune.auth.verifier.TokenVerifier` — discovery, JWKS and
a token endpoint that hands out a token for any subject and roles — so the same verification code
runs locally and in production (where Keycloak is the issuer). Because the token endpoint trusts
its caller completely, :func:`dev_issuer_router` may only be mounted when the environment is dev
or test; :func:`mount_dev_issuer` enforces that.

The signing key is a JWK file shared by every local process (``from_key_file``), so tokens issued
by one process verify in all of them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kommune.auth.principal import Role
from kommune.auth.verifier import ALGORITHM
from kommune.settings import Environment

DEV_ISSUER_PREFIX = "/auth/dev"
MAX_ROLES = 8


class DevIssuer:
    """Issues tokens with ``iss=issuer_url`` and ``aud=audience``, signed with ``key``."""

    def __init__(
        self, key: RSAKey, issuer_url: str, audience: str = "kommune", ttl: int = 3600
    ) -> None:
        if not key.is_private:
            raise ValueError("The dev issuer needs a private RSA key.")
        key.ensure_kid()
        self.key = key
        self.issuer_url = issuer_url.rstrip("/")
        self.audience = audience
        self.ttl = ttl

    @classmethod
    def generate(cls, issuer_url: str, audience: str = "kommune", ttl: int = 3600) -> DevIssuer:
        """An issuer with a fresh in-memory key (nothing persisted)."""
        return cls(_generate_key(), issuer_url, audience, ttl)

    @classmethod
    def from_key_file(
        cls, path: str | os.PathLike[str], issuer_url: str, audience: str = "kommune"
    ) -> DevIssuer:
        """Load the key from a JWK JSON file, creating it (mode 0600) if it does not exist."""
        return cls(load_or_create_key(Path(path)), issuer_url, audience)

    @property
    def kid(self) -> str:
        assert self.key.kid is not None
        return self.key.kid

    def issue(
        self,
        sub: str,
        roles: Iterable[str] = (),
        name: str | None = None,
        department: str | None = None,
        *,
        expires_in: int | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed access token; ``extra_claims`` override the standard ones (for tests)."""
        if isinstance(roles, str):
            raise TypeError("roles must be a collection of role names, not one string")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + (self.ttl if expires_in is None else expires_in),
            "jti": secrets.token_hex(16),
            "typ": "Bearer",
            "azp": "kommune-dev",
            "preferred_username": sub,
            "realm_access": {"roles": sorted({str(role) for role in roles})},
        }
        if name is not None:
            claims["name"] = name
        if department is not None:
            claims["department"] = department
        if extra_claims:
            claims.update(extra_claims)
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public key set (never the private parts)."""
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "use": "sig", "alg": ALGORITHM, "kid": self.kid}]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "jwks_uri": f"{self.issuer_url}/jwks.json",
            "token_endpoint": f"{self.issuer_url}/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["urn:kommune:dev"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "name",
                "preferred_username",
                "department",
                "realm_access",
            ],
        }


def _generate_key() -> RSAKey:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def load_or_create_key(path: Path) -> RSAKey:
    """Read the JWK at ``path`` or create it atomically (first writer wins; 0600 permissions)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = _generate_key()
        data = json.dumps(key.as_dict(private=True)).encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process created the file meanwhile: then use theirs.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = RSAKey.import_key(json.loads(path.read_text()))
    if not key.is_private:
        raise ValueError(f"{path} holds no private key.")
    return key


# -- HTTP ----------------------------------------------------------------------------------------

Subject = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class TokenRequest(BaseModel):
    """Ask the dev issuer for a token; the roles must be platform roles."""

    model_config = ConfigDict(extra="forbid")

    sub: Subject = Field(description="Subject (user id), 1-128 printable characters.")
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    department: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    expires_in: int | None = Field(default=None, ge=1, le=86_400)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


def dev_issuer_router(issuer: DevIssuer) -> APIRouter:
    """Routes relative to the issuer's path: ``POST /token``, discovery and ``/jwks.json``."""
    router = APIRouter(tags=["dev auth"])

    @router.post("/token", summary="Issue a development token (dev/test only)")
    async def issue_token(body: TokenRequest) -> TokenResponse:
        expires_in = body.expires_in or issuer.ttl
        token = issuer.issue(
            body.sub,
            [str(role) for role in body.roles],
            body.name,
            body.department,
            expires_in=expires_in,
        )
        return TokenResponse(access_token=token, expires_in=expires_in)

    @router.get("/.well-known/openid-configuration", include_in_schema=False)
    async def openid_configuration() -> dict[str, Any]:
        return issuer.discovery()

    @router.get("/jwks.json", include_in_schema=False)
    async def jwks() -> dict[str, Any]:
        return issuer.jwks()

    return router


def mount_dev_issuer(
    app: FastAPI, issuer: DevIssuer, environment: Environment, prefix: str = DEV_ISSUER_PREFIX
) -> bool:
    """Mount the issuer at ``prefix`` when ``environment`` is dev or test; never in production."""
    if environment not in (Environment.DEV, Environment.TEST):
        return False
    app.include_router(dev_issuer_router(issuer), prefix=prefix)
    return True
