"""The local development and test OIDC issuer: signs Keycloak-shaped RS256 access tokens.

It speaks just enough OIDC for :class:`kommune.auth.verifier.TokenVerifier` — discovery, JWKS and
a token endpoint that hands out a token for any subject and roles — so the same verification code
runs locally and in production (where Keycloak is the issuer). Because the token endpoint trusts
its caller completely, :func:`dev_issuer_router` may only be mounted when the environment is
*explicitly* dev or test (the default is production); :func:`mount_dev_issuer` enforces that.

Its tokens look like Keycloak access tokens with audience mappers: ``typ: "Bearer"``, ``azp`` the
client (``kommune-dev``) and ``aud`` listing the gateway and every service, so one token passes
the gateway and the service behind it, each of which checks its own audience.

The signing key is a JWK file shared by every local process (``from_key_file``), so tokens issued
by one process verify in all of them. Tests rotate keys with :meth:`DevIssuer.rotate_key` and
:meth:`DevIssuer.withdraw_key`, as an operator does in Keycloak.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kommune.auth.principal import Role
from kommune.auth.verifier import ALGORITHM
from kommune.settings import Environment, service_audience

log = structlog.get_logger(__name__)

DEV_ISSUER_PREFIX = "/auth/dev"
DEV_CLIENT_ID = "kommune-dev"
MAX_ROLES = 8
PLATFORM_SERVICES = ("gateway", "ideas", "documents", "egov", "sensors")
"""The services whose default audiences dev tokens carry when nobody passes a list."""
PLATFORM_AUDIENCES = tuple(service_audience(name) for name in PLATFORM_SERVICES)


class DevIssuer:
    """Issues tokens with ``iss=issuer_url`` and ``aud=audiences``, signed with its current key.

    ``audiences`` defaults to :data:`PLATFORM_AUDIENCES` (the gateway and every service).
    """

    def __init__(
        self,
        key: RSAKey,
        issuer_url: str,
        audiences: str | Sequence[str] = PLATFORM_AUDIENCES,
        ttl: int = 3600,
    ) -> None:
        if not key.is_private:
            raise ValueError("The dev issuer needs a private RSA key.")
        key.ensure_kid()
        self.key = key
        self._published: dict[str, RSAKey] = {self.kid: key}
        self.issuer_url = issuer_url.rstrip("/")
        self.audiences = (audiences,) if isinstance(audiences, str) else tuple(audiences)
        if not self.audiences:
            raise ValueError("The dev issuer needs at least one audience.")
        self.ttl = ttl

    @classmethod
    def generate(
        cls,
        issuer_url: str,
        audiences: str | Sequence[str] = PLATFORM_AUDIENCES,
        ttl: int = 3600,
    ) -> DevIssuer:
        """An issuer with a fresh in-memory key (nothing persisted)."""
        return cls(_generate_key(), issuer_url, audiences, ttl)

    @classmethod
    def from_key_file(
        cls,
        path: str | os.PathLike[str],
        issuer_url: str,
        audiences: str | Sequence[str] = PLATFORM_AUDIENCES,
    ) -> DevIssuer:
        """Load the key from a JWK JSON file, creating it (mode 0600) if it does not exist."""
        return cls(load_or_create_key(Path(path)), issuer_url, audiences)

    @property
    def kid(self) -> str:
        """The key id of the current signing key."""
        assert self.key.kid is not None
        return self.key.kid

    @property
    def published_kids(self) -> list[str]:
        return list(self._published)

    def rotate_key(self) -> str:
        """Sign with a new key from now on; the old one stays published until withdrawn."""
        self.key = _generate_key()
        self._published[self.kid] = self.key
        return self.kid

    def withdraw_key(self, kid: str) -> None:
        """Stop publishing ``kid`` (never the current signing key)."""
        if kid == self.kid:
            raise ValueError("The current signing key cannot be withdrawn; rotate first.")
        del self._published[kid]

    def issue(
        self,
        sub: str,
        roles: Iterable[str] = (),
        name: str | None = None,
        department: str | None = None,
        *,
        expires_in: int | None = None,
        extra_claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        kid: str | None = None,
    ) -> str:
        """A signed access token.

        For tests: ``extra_claims`` override the standard claims (``None`` values remove them),
        ``header`` overrides JOSE header fields (``{"typ": "at+jwt"}``), ``kid`` signs with
        another published key than the current one.
        """
        if isinstance(roles, str):
            raise TypeError("roles must be a collection of role names, not one string")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "aud": self.audiences[0] if len(self.audiences) == 1 else list(self.audiences),
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + (self.ttl if expires_in is None else expires_in),
            "jti": secrets.token_hex(16),
            "typ": "Bearer",
            "azp": DEV_CLIENT_ID,
            "preferred_username": sub,
            "realm_access": {"roles": sorted({str(role) for role in roles})},
        }
        if name is not None:
            claims["name"] = name
        if department is not None:
            claims["department"] = department
        if extra_claims:
            claims.update(extra_claims)
            claims = {k: v for k, v in claims.items() if v is not None}
        signing_kid = kid or self.kid
        protected = {"alg": ALGORITHM, "kid": signing_kid, "typ": "JWT", **(header or {})}
        protected = {k: v for k, v in protected.items() if v is not None}
        return jwt.encode(protected, claims, self._published[signing_kid], algorithms=[ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public key set (never the private parts): every published key."""
        return {
            "keys": [
                {**key.as_dict(private=False), "use": "sig", "alg": ALGORITHM, "kid": kid}
                for kid, key in self._published.items()
            ]
        }

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


def is_dev_issuer_url(issuer_url: str | None, prefix: str = DEV_ISSUER_PREFIX) -> bool:
    """Whether the configured issuer is a dev issuer (its path is ``prefix``), not e.g. Keycloak."""
    return issuer_url is not None and urlsplit(issuer_url).path.rstrip("/") == prefix


def mount_dev_issuer(
    app: FastAPI, issuer: DevIssuer, environment: Environment, prefix: str = DEV_ISSUER_PREFIX
) -> bool:
    """Mount the issuer at ``prefix`` when ``environment`` is dev or test; never in production.

    The environment must be set explicitly: :class:`~kommune.settings.ServiceSettings` defaults
    to production, so an unset ``KOMMUNE_ENVIRONMENT`` never mounts it.
    """
    if environment not in (Environment.DEV, Environment.TEST):
        return False
    app.include_router(dev_issuer_router(issuer), prefix=prefix)
    log.warning(
        "dev_issuer_mounted",
        environment=str(environment),
        issuer=issuer.issuer_url,
        note="POST /auth/dev/token issues tokens with any role: never in production",
    )
    return True
