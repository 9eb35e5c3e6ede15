"""OIDC bearer token verification: RS256 signatures against the issuer's JWKS, then the claims.

What a token must be to pass (ADR 0005), in the order it is checked:

1. At most 16 kB, three parts, JOSE header ``alg: RS256`` (never ``none``, never HMAC).
2. Signed by a key of the configured issuer's JWKS (:mod:`kommune.auth.jwks`: discovery,
   background refresh, unknown ``kid`` → one rate-limited refresh, withdrawn keys refused after
   a grace period). Without usable keys the answer is 503: the token may well be valid.
3. An **access token**: the claim ``typ`` is ``Bearer`` (Keycloak), or the JOSE header ``typ`` is
   ``at+jwt`` (RFC 9068). Keycloak ID tokens (``typ: ID``), refresh and logout tokens are
   refused, as is a token that says nothing about its type.
4. ``iss`` is the configured issuer, ``aud`` lists *this* service's audience, ``exp`` is in the
   future and ``nbf``/``iat`` are not (30 s leeway), ``sub`` is present.
5. If ``authorized_parties`` is configured, ``azp`` (or RFC 9068 ``client_id``) is one of them.

Without a configured issuer nothing is accepted: every token gets 401 and ``/readyz`` fails.
Every rejected token raises :class:`kommune.errors.Unauthorized` with a short reason that tells
the client what to fix without echoing the token or the key material.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

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

from kommune.auth.jwks import ALGORITHM, Clock, JwksCache
from kommune.auth.principal import Principal
from kommune.errors import Unauthorized
from kommune.settings import Environment, ServiceSettings

log = structlog.get_logger(__name__)

MAX_TOKEN_LENGTH = 16_384
"""Longer "tokens" are rejected before any parsing (a Keycloak access token is ~1-2 kB)."""
NO_ISSUER_DETAIL = (
    "No identity provider is configured for this service (KOMMUNE_OIDC_ISSUER): "
    "it accepts no token."
)
ACCESS_TOKEN_CLAIM_TYP = "bearer"  # noqa: S105 - Keycloak access tokens: typ Bearer (any case)
ACCESS_TOKEN_HEADER_TYPS = {"at+jwt", "application/at+jwt"}  # RFC 9068
NEUTRAL_HEADER_TYPS = {"jwt", "application/jwt"}  # says nothing about the token's use


class TokenVerifier:
    """Verifies access tokens of one OIDC issuer for one audience.

    ``issuer=None`` builds a verifier that refuses every token (fail closed). ``http`` is owned
    by the caller (the application's lifespan); its transport decides where discovery requests
    go, which is how tests point the verifier at an in-process issuer. Use it as an async
    context manager (or :meth:`start`/:meth:`aclose`) to run the background key refresh; without
    it keys are fetched on demand only.
    """

    def __init__(
        self,
        issuer: str | None,
        audience: str,
        http: httpx.AsyncClient,
        *,
        leeway: int = 30,
        authorized_parties: frozenset[str] = frozenset(),
        refresh_interval: float = 300,
        unknown_kid_interval: float = 10,
        key_grace: float = 300,
        max_stale: float = 3600,
        wait_timeout: float = 3.0,
        clock: Clock = time.monotonic,
        environment: Environment | None = None,
    ) -> None:
        if not audience:
            raise ValueError("A verifier needs an audience.")
        self.issuer = issuer.rstrip("/") if issuer else None
        self.audience = audience
        self.authorized_parties = authorized_parties
        self.environment = environment
        self._leeway = leeway
        self.keys: JwksCache | None = (
            JwksCache(
                self.issuer,
                http,
                refresh_interval=refresh_interval,
                unknown_kid_interval=unknown_kid_interval,
                grace=key_grace,
                max_stale=max_stale,
                wait_timeout=wait_timeout,
                clock=clock,
            )
            if self.issuer
            else None
        )

    @classmethod
    def from_settings(cls, settings: ServiceSettings, http: httpx.AsyncClient) -> TokenVerifier:
        return cls(
            settings.oidc_issuer,
            settings.oidc_audience,
            http,
            authorized_parties=settings.oidc_authorized_parties,
            refresh_interval=settings.oidc_jwks_refresh_seconds,
            key_grace=settings.oidc_jwks_grace_seconds,
            max_stale=settings.oidc_jwks_max_stale_seconds,
            environment=settings.environment,
        )

    @property
    def configured(self) -> bool:
        """Whether an issuer is configured (otherwise every token is refused)."""
        return self.keys is not None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background key refresh; without an issuer, log loudly that all is closed."""
        if "KOMMUNE_OIDC_AUDIENCE" in os.environ:
            log.warning(
                "oidc_audience_setting_ignored",
                note="KOMMUNE_OIDC_AUDIENCE is no longer read: audiences are per service",
                audience=self.audience,
            )
        if self.keys is None:
            log.error(
                "oidc_issuer_not_configured",
                audience=self.audience,
                environment=str(self.environment) if self.environment else None,
                consequence="every token is refused with 401 and /readyz fails",
                fix="set KOMMUNE_OIDC_ISSUER to the identity provider's issuer URL",
            )
            return
        if self.environment == Environment.PRODUCTION and self.keys.issuer.startswith("http://"):
            log.warning("oidc_issuer_not_https", issuer=self.issuer)
        log.info(
            "oidc_verifier_started",
            issuer=self.issuer,
            audience=self.audience,
            authorized_parties=sorted(self.authorized_parties) or None,
        )
        self.keys.start()

    async def aclose(self) -> None:
        if self.keys is not None:
            await self.keys.aclose()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def readiness(self) -> dict[str, Any]:
        """The ``oidc`` check of ``/readyz`` (required only when no issuer is configured)."""
        if self.keys is None:
            return {"status": "fail", "error": "no OIDC issuer configured (KOMMUNE_OIDC_ISSUER)"}
        return {**self.keys.status(), "audience": self.audience}

    # -- verification ----------------------------------------------------------------------------

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; :class:`Unauthorized` for anything else."""
        if self.keys is None:
            raise Unauthorized(NO_ISSUER_DETAIL)
        header = self._header(token)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token is malformed.")
        key = await self.keys.key_for(kid)
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise Unauthorized("The token signature is invalid.") from None
        except JoseError:
            raise Unauthorized("The token is malformed.") from None
        claims = decoded.claims
        check_access_token_type(header, claims)
        self._validate_claims(claims)
        self._check_authorized_party(claims)
        return principal_from_claims(claims)

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
        # joserfc's jwt.decode checks only the signature: the claims are checked here.
        registry = jwt.JWTClaimsRegistry(
            leeway=self._leeway,
            iss={"essential": True, "value": self.issuer or ""},
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
                "aud": f"The token is not meant for this audience ({self.audience}).",
                "nbf": "The token is not valid yet.",
                "iat": "The token was issued in the future.",
            }
            raise Unauthorized(
                reasons.get(exc.claim, f"The token claim '{exc.claim}' is invalid.")
            ) from None
        except JoseError:
            raise Unauthorized("The token claims are invalid.") from None

    def _check_authorized_party(self, claims: Mapping[str, Any]) -> None:
        if not self.authorized_parties:
            return
        party = claims.get("azp", claims.get("client_id"))
        if not isinstance(party, str) or party not in self.authorized_parties:
            raise Unauthorized("The token was issued to a client this service does not accept.")


def check_access_token_type(header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
    """Refuse anything but an access token (ID, refresh and logout tokens are signed alike)."""
    header_typ = header.get("typ")
    if header_typ is not None and not isinstance(header_typ, str):
        raise Unauthorized("The token is malformed.")
    header_typ = header_typ.lower() if header_typ else None
    if header_typ is not None and header_typ not in ACCESS_TOKEN_HEADER_TYPS | NEUTRAL_HEADER_TYPS:
        raise Unauthorized("The token is not an access token (JOSE header typ).")
    claim_typ = claims.get("typ")
    if claim_typ is not None:
        if not isinstance(claim_typ, str) or claim_typ.lower() != ACCESS_TOKEN_CLAIM_TYP:
            if claim_typ == "ID":
                raise Unauthorized("The token is an ID token; send an access token.")
            raise Unauthorized("The token is not an access token (typ must be Bearer).")
    elif header_typ not in ACCESS_TOKEN_HEADER_TYPS:
        raise Unauthorized(
            "The token does not say it is an access token (typ claim Bearer or header at+jwt)."
        )


MAX_SUBJECT_LENGTH = 255
"""What the services' ``*_id`` columns of a person hold; a longer ``sub`` is refused (401)."""
MAX_NAME_LENGTH = 200
"""What the services' ``*_name`` columns hold; a longer display name is shortened."""
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _display_text(value: object, max_length: int) -> str | None:
    """A display string from a claim, storable as it is: control characters and lone
    surrogates dropped, NFC, at most ``max_length`` characters; ``None`` if nothing is left."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFC", _UNSTORABLE.sub("", value)).strip()[:max_length]
    return text or None


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Keycloak-compatible claims → :class:`Principal` (roles from ``realm_access.roles``).

    Claims are input too: an identity provider's data ends up in the services' columns, so a
    subject the columns cannot hold is refused and display names are made storable.
    """
    subject = str(claims["sub"])
    if not subject or len(subject) > MAX_SUBJECT_LENGTH or _UNSTORABLE.search(subject):
        raise Unauthorized("The token's subject (sub) is empty, too long or not printable.")
    realm_access = claims.get("realm_access")
    raw_roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    roles = (
        frozenset(role for role in raw_roles if isinstance(role, str))
        if isinstance(raw_roles, list)
        else frozenset()
    )
    return Principal(
        sub=subject,
        roles=roles,
        name=_display_text(claims.get("name") or claims.get("preferred_username"), MAX_NAME_LENGTH),
        department=_display_text(claims.get("department"), MAX_NAME_LENGTH),
    )


__all__ = ["ALGORITHM", "TokenVerifier", "check_access_token_type", "principal_from_claims"]
