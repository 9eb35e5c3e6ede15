"""OIDC bearer token verification: RS256 signatures against the issuer's JWKS, then the claims.

The verifier discovers the issuer once (``{issuer}/.well-known/openid-configuration`` →
``jwks_uri``), caches the key set for ``jwks_ttl`` seconds and, when a token names a key id it does
not know, refetches the key set at most once per ``refetch_interval`` seconds, so a key rotation
at the issuer is followed without a restart while a flood of forged tokens cannot turn into a
flood of requests to the issuer. If a refresh fails while keys are cached, the cached keys stay
in use (the issuer being briefly down must not log everybody out); without any keys the caller
gets 503, not 401, because the token may well be valid.

Every rejected token raises :class:`kommune.errors.Unauthorized` with a short reason that tells
the client what to fix without echoing the token or the key material.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
import structlog
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import RSAKey

from kommune.auth.principal import Principal
from kommune.errors import ServiceUnavailable, Unauthorized

log = structlog.get_logger(__name__)

ALGORITHM = "RS256"
FAILURE_BACKOFF = 1.0
"""Seconds during which, without any cached keys, a failed fetch is not retried (503 at once)."""
MAX_TOKEN_LENGTH = 16_384
"""Longer "tokens" are rejected before any parsing (a Keycloak access token is ~1-2 kB)."""


class TokenVerifier:
    """Verifies access tokens issued by one OIDC issuer for one audience.

    ``http`` is owned by the caller (the application's lifespan); its transport decides where
    discovery requests go, which is how tests point the verifier at an in-process issuer.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        *,
        leeway: int = 30,
        jwks_ttl: float = 300,
        refetch_interval: float = 10,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._http = http
        self._leeway = leeway
        self._jwks_ttl = jwks_ttl
        self._refetch_interval = refetch_interval
        self._keys: dict[str, RSAKey] = {}
        self._jwks_uri: str | None = None
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._attempted_at: float | None = None  # monotonic time of the last attempt
        self._failed_at: float | None = None  # monotonic time of the last failed attempt
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`Unauthorized` for any invalid one."""
        header = self._header(token)
        key = await self._key_for(header.get("kid"))
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise Unauthorized("The token signature is invalid.") from None
        except JoseError:
            raise Unauthorized("The token is malformed.") from None
        claims = decoded.claims
        self._validate_claims(claims)
        return principal_from_claims(claims)

    # -- token parts ---------------------------------------------------------------------------

    @staticmethod
    def _header(token: str) -> Mapping[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise Unauthorized("The token is malformed.")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise Unauthorized("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            # Never "none", never HS256 with the public key as the secret.
            raise Unauthorized(f"The token must be signed with {ALGORITHM}.")
        return header

    def _validate_claims(self, claims: dict[str, Any]) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=self._leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise Unauthorized("The token has expired.") from None
        except MissingClaimError as exc:
            raise Unauthorized(f"The token lacks the claim(s): {exc.claim}.") from None
        except InvalidClaimError as exc:
            reasons = {
                "iss": "The token was not issued by the trusted issuer.",
                "aud": "The token is not meant for this audience.",
                "nbf": "The token is not valid yet.",
                "iat": "The token was issued in the future.",
            }
            raise Unauthorized(
                reasons.get(exc.claim, f"The token claim '{exc.claim}' is invalid.")
            ) from None
        except JoseError:
            raise Unauthorized("The token claims are invalid.") from None

    # -- keys ------------------------------------------------------------------------------------

    async def _key_for(self, kid: object) -> RSAKey:
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token is malformed.")
        if self._is_stale():
            await self._refresh(force=False)
        key = self._lookup(kid)
        if key is None and self._may_refetch():
            # Perhaps the issuer rotated its keys since we fetched them.
            await self._refresh(force=True)
            key = self._lookup(kid)
        if key is None:
            raise Unauthorized("The token was signed with an unknown key.")
        return key

    def _lookup(self, kid: str | None) -> RSAKey | None:
        if kid is None:
            # A token without "kid" is acceptable only while the issuer publishes a single key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _is_stale(self) -> bool:
        if self._fetched_at is None:
            return True
        return time.monotonic() - self._fetched_at >= self._jwks_ttl

    def _may_refetch(self) -> bool:
        return (
            self._attempted_at is None
            or time.monotonic() - self._attempted_at >= self._refetch_interval
        )

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            # Another request may have refreshed (or failed to) while this one waited.
            if force:
                if not self._may_refetch():
                    return
            else:
                if not self._is_stale():
                    return
                since_failure = (
                    time.monotonic() - self._failed_at if self._failed_at is not None else None
                )
                if (
                    self._keys
                    and since_failure is not None
                    and since_failure < self._refetch_interval
                ):
                    return  # stale, but a refresh failed moments ago: keep the cached keys
                if not self._keys and since_failure is not None and since_failure < FAILURE_BACKOFF:
                    raise ServiceUnavailable("The identity provider is unreachable.")
            self._attempted_at = time.monotonic()
            try:
                keys = await self._fetch_keys()
            except ServiceUnavailable:
                self._failed_at = time.monotonic()
                self._jwks_uri = None  # rediscover next time
                if self._keys:
                    log.warning("jwks_refresh_failed_using_cached_keys", issuer=self.issuer)
                    return
                raise
            self._keys = keys
            self._fetched_at = time.monotonic()
            self._failed_at = None

    async def _fetch_keys(self) -> dict[str, RSAKey]:
        if self._jwks_uri is None:
            discovery = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if discovery.get("issuer", "").rstrip("/") != self.issuer:
                log.error(
                    "oidc_discovery_issuer_mismatch",
                    expected=self.issuer,
                    got=discovery.get("issuer"),
                )
                raise ServiceUnavailable("The identity provider is misconfigured.")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise ServiceUnavailable("The identity provider publishes no keys.")
            self._jwks_uri = jwks_uri
        document = await self._get_json(self._jwks_uri)
        keys: dict[str, RSAKey] = {}
        for data in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
            if not isinstance(data, dict) or data.get("kty") != "RSA":
                continue
            if data.get("use", "sig") != "sig" or data.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                key = RSAKey.import_key(data)
            except (JoseError, ValueError):
                log.warning("jwks_key_skipped", kid=data.get("kid"))
                continue
            if key.is_private:
                continue
            keys[key.kid or key.thumbprint()] = key
        if not keys:
            raise ServiceUnavailable("The identity provider publishes no usable signing keys.")
        log.info("jwks_loaded", issuer=self.issuer, kids=sorted(keys))
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oidc_fetch_failed", url=url, error=type(exc).__name__)
            raise ServiceUnavailable("The identity provider is unreachable.") from None
        if not isinstance(data, dict):
            raise ServiceUnavailable("The identity provider answered with an invalid document.")
        return data


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Keycloak-compatible claims → :class:`Principal` (roles from ``realm_access.roles``)."""
    realm_access = claims.get("realm_access")
    raw_roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    roles = (
        frozenset(role for role in raw_roles if isinstance(role, str))
        if isinstance(raw_roles, list)
        else frozenset()
    )
    name = claims.get("name") or claims.get("preferred_username")
    department = claims.get("department")
    return Principal(
        sub=str(claims["sub"]),
        roles=roles,
        name=name if isinstance(name, str) else None,
        department=department if isinstance(department, str) else None,
    )


__all__ = ["ALGORITHM", "TokenVerifier", "principal_from_claims"]
