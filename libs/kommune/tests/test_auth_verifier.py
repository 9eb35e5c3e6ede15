"""Token verification against a real (in-process) OIDC issuer: discovery, JWKS, rotation, claims."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey

from kommune.auth.dev_issuer import DevIssuer, load_or_create_key
from kommune.auth.verifier import TokenVerifier
from kommune.errors import ServiceUnavailable, Unauthorized
from kommune.testing.auth import TEST_ISSUER_URL

ISSUER = "http://rotating.test/realms/kommune"


class RotatingIssuer:
    """An issuer whose published keys can change, counting the requests it serves."""

    def __init__(self) -> None:
        self.current = DevIssuer.generate(ISSUER)
        self.published = [self.current]
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.up = True
        self.app = FastAPI()

        @self.app.get("/realms/kommune/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            self.discovery_requests += 1
            self._fail_if_down()
            return self.current.discovery()

        @self.app.get("/realms/kommune/jwks.json")
        async def jwks() -> dict[str, Any]:
            self.jwks_requests += 1
            self._fail_if_down()
            return {"keys": [key for i in self.published for key in i.jwks()["keys"]]}

    def _fail_if_down(self) -> None:
        if not self.up:
            raise RuntimeError("issuer down")

    def rotate(self) -> None:
        self.current = DevIssuer.generate(ISSUER)
        self.published = [self.current]


@pytest.fixture
def issuer() -> RotatingIssuer:
    return RotatingIssuer()


@pytest.fixture
async def http(issuer: RotatingIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=issuer.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


def verifier(http: httpx.AsyncClient, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(ISSUER, "kommune", http, **kwargs)


async def test_valid_token_gives_principal_with_keycloak_claims(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.current.issue(
        "user-7", ["staff", "change_agent"], name="Erika Muster", department="Hauptamt"
    )
    principal = await verifier(http).verify(token)
    assert principal.sub == "user-7"
    assert principal.roles == {"staff", "change_agent"}
    assert principal.name == "Erika Muster"
    assert principal.department == "Hauptamt"
    assert principal.is_staff


async def test_name_falls_back_to_preferred_username(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.current.issue("u1", [], extra_claims={"preferred_username": "emuster"})
    principal = await verifier(http).verify(token)
    assert principal.name == "emuster"
    assert principal.roles == frozenset()
    assert principal.department is None


async def test_keys_are_cached(issuer: RotatingIssuer, http: httpx.AsyncClient) -> None:
    v = verifier(http)
    for _ in range(5):
        await v.verify(issuer.current.issue("u1", ["staff"]))
    assert issuer.discovery_requests == 1
    assert issuer.jwks_requests == 1


async def test_key_rotation_is_followed_once_and_rate_limited(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(http, refetch_interval=0)
    await v.verify(issuer.current.issue("u1", ["staff"]))
    issuer.rotate()
    principal = await v.verify(issuer.current.issue("u2", ["staff"]))
    assert principal.sub == "u2"
    assert issuer.jwks_requests == 2

    # With the default interval, unknown key ids cannot make the verifier hammer the issuer.
    limited = verifier(http)
    await limited.verify(issuer.current.issue("u1", ["staff"]))
    stranger = DevIssuer.generate(ISSUER)
    before = issuer.jwks_requests
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown key"):
            await limited.verify(stranger.issue("u1", ["admin"]))
    assert issuer.jwks_requests == before


async def test_expired_jwks_cache_is_refreshed(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(http, jwks_ttl=0)
    await v.verify(issuer.current.issue("u1", []))
    await v.verify(issuer.current.issue("u1", []))
    assert issuer.jwks_requests == 2


async def test_cached_keys_survive_an_issuer_outage(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(http, jwks_ttl=0, refetch_interval=0)
    await v.verify(issuer.current.issue("u1", []))
    issuer.up = False
    principal = await v.verify(issuer.current.issue("u2", []))
    assert principal.sub == "u2"


async def test_issuer_unreachable_is_503_not_401(issuer: RotatingIssuer) -> None:
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(), timeout=httpx.Timeout(2.0)
    ) as client:
        v = TokenVerifier("http://127.0.0.1:1/auth/dev", "kommune", client)
        with pytest.raises(ServiceUnavailable) as caught:
            await v.verify(issuer.current.issue("u1", []))
    assert caught.value.status_code == 503


async def test_issuer_erroring_is_503(issuer: RotatingIssuer, http: httpx.AsyncClient) -> None:
    issuer.up = False
    with pytest.raises(ServiceUnavailable):
        await verifier(http).verify(issuer.current.issue("u1", []))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i: i.issue("u1", [], expires_in=-120), "expired"),
        (lambda i: i.issue("u1", [], extra_claims={"iss": "http://evil.test"}), "issuer"),
        (lambda i: i.issue("u1", [], extra_claims={"aud": "other-app"}), "audience"),
        (lambda i: i.issue("u1", [], extra_claims={"aud": ["a", "b"]}), "audience"),
        (lambda i: i.issue("u1", [], extra_claims={"nbf": 4_000_000_000}), "not valid yet"),
        (lambda i: i.issue("u1", [], extra_claims={"exp": None}), "lacks"),
        (lambda i: i.issue("u1", [], extra_claims={"sub": None}), "lacks"),
        (lambda i: "not-a-token", "malformed"),
        (lambda i: "a.b.c", "malformed"),
        (lambda i: "x" * 20_000, "malformed"),
        (lambda i: i.issue("u1", [])[:-4] + "AAAA", "signature"),
    ],
)
async def test_invalid_tokens_are_rejected_with_a_reason(
    issuer: RotatingIssuer, http: httpx.AsyncClient, make_token: Any, reason: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier(http).verify(make_token(issuer.current))
    assert reason in caught.value.detail
    assert caught.value.status_code == 401


async def test_forged_token_reusing_the_real_kid_fails_the_signature(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    forger = DevIssuer.generate(ISSUER)
    forged = jwt.encode(
        {"alg": "RS256", "kid": issuer.current.kid},
        {"iss": ISSUER, "aud": "kommune", "sub": "u1", "exp": 4_000_000_000},
        forger.key,
    )
    with pytest.raises(Unauthorized, match="signature"):
        await verifier(http).verify(forged)


async def test_alg_none_and_hmac_tokens_are_rejected(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    claims = {"iss": ISSUER, "aud": "kommune", "sub": "u1", "exp": 4_000_000_000}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(Unauthorized, match="RS256"):
        await verifier(http).verify(unsigned)

    # HS256 "signed" with the issuer's public key as the shared secret (key confusion).
    public_n = issuer.current.jwks()["keys"][0]["n"]
    hmac_key = OctKey.import_key(public_n.encode())
    hs = jwt.encode(
        {"alg": "HS256", "kid": issuer.current.kid}, claims, hmac_key, algorithms=["HS256"]
    )
    with pytest.raises(Unauthorized, match="RS256"):
        await verifier(http).verify(hs)


async def test_leeway_accepts_slight_clock_skew(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.current.issue("u1", [], expires_in=-5)
    assert (await verifier(http, leeway=30).verify(token)).sub == "u1"
    with pytest.raises(Unauthorized, match="expired"):
        await verifier(http, leeway=0).verify(token)


async def test_discovery_naming_another_issuer_is_refused(
    issuer: RotatingIssuer, http: httpx.AsyncClient
) -> None:
    # OIDC Discovery: the document's "issuer" must equal the URL it was fetched for.
    issuer.current = DevIssuer.generate("http://elsewhere.test/realms/kommune")
    issuer.published = [issuer.current]
    token = issuer.current.issue("u1", [], extra_claims={"iss": ISSUER})
    with pytest.raises(ServiceUnavailable):
        await verifier(http).verify(token)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "jwk.json"
    first = DevIssuer.from_key_file(path, TEST_ISSUER_URL)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = DevIssuer.from_key_file(path, TEST_ISSUER_URL)
    assert first.kid == second.kid
    assert load_or_create_key(path).is_private
    # The published key set never contains private parts.
    published = first.jwks()["keys"][0]
    assert {"d", "p", "q", "dp", "dq", "qi"}.isdisjoint(published)
    assert published["alg"] == "RS256"
    assert published["use"] == "sig"


def test_issue_refuses_a_single_string_as_roles() -> None:
    with pytest.raises(TypeError):
        DevIssuer.generate(TEST_ISSUER_URL).issue("u1", "staff")
