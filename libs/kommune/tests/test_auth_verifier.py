"""Token verification against a real (in-process) OIDC issuer: discovery, JWKS, claims, types.

Key rotation, grace periods, rate limits and the background refresh are in test_auth_jwks.py.
"""

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
from joserfc import jwt
from joserfc.jwk import OctKey
from structlog.testing import capture_logs

from kommune.auth.dev_issuer import DevIssuer, load_or_create_key
from kommune.auth.verifier import NO_ISSUER_DETAIL, TokenVerifier
from kommune.errors import ServiceUnavailable, Unauthorized
from kommune.settings import service_audience
from kommune.testing.auth import TEST_ISSUER_URL, ControlledIssuer

ISSUER = TEST_ISSUER_URL
AUDIENCE = service_audience("ideas")


@pytest.fixture
def issuer() -> ControlledIssuer:
    return ControlledIssuer(DevIssuer.generate(ISSUER))


@pytest.fixture
async def http(issuer: ControlledIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with issuer.client() as client:
        yield client


def verifier(http: httpx.AsyncClient, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, http, **kwargs)


async def test_valid_token_gives_principal_with_keycloak_claims(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.issuer.issue(
        "user-7", ["staff", "change_agent"], name="Erika Muster", department="Hauptamt"
    )
    principal = await verifier(http).verify(token)
    assert principal.sub == "user-7"
    assert principal.roles == {"staff", "change_agent"}
    assert principal.name == "Erika Muster"
    assert principal.department == "Hauptamt"
    assert principal.is_staff


async def test_name_falls_back_to_preferred_username(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.issuer.issue("u1", [], extra_claims={"preferred_username": "emuster"})
    principal = await verifier(http).verify(token)
    assert principal.name == "emuster"
    assert principal.roles == frozenset()
    assert principal.department is None


async def test_claims_are_made_storable(issuer: ControlledIssuer, http: httpx.AsyncClient) -> None:
    """An identity provider's display names end up in varchar(200) columns: a 300-character
    name with a NUL is shortened and cleaned, not a 500 at the first write."""
    token = issuer.issuer.issue(
        "u1", ["staff"], name="E\x00rika " + "M" * 300, department="Amt\x07"
    )
    principal = await verifier(http).verify(token)
    assert principal.name == "Erika " + "M" * 194
    assert principal.department == "Amt"


@pytest.mark.parametrize("subject", ["a" * 256, "user\x00x", "user\x1bx"])
async def test_a_subject_the_columns_cannot_hold_is_refused(
    issuer: ControlledIssuer, http: httpx.AsyncClient, subject: str
) -> None:
    token = issuer.issuer.issue(subject, ["staff"])
    with pytest.raises(Unauthorized, match="subject"):
        await verifier(http).verify(token)


async def test_keys_are_cached(issuer: ControlledIssuer, http: httpx.AsyncClient) -> None:
    v = verifier(http)
    for _ in range(5):
        await v.verify(issuer.issuer.issue("u1", ["staff"]))
    assert issuer.discovery_requests == 1
    assert issuer.jwks_requests == 1


# -- fail closed: no issuer, no token --------------------------------------------------------


async def test_without_an_issuer_no_token_is_accepted(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    closed = TokenVerifier(None, AUDIENCE, http)
    assert not closed.configured
    with capture_logs() as logs:
        async with closed:
            with pytest.raises(Unauthorized) as caught:
                await closed.verify(issuer.issuer.issue("u1", ["admin"]))
            readiness = await closed.readiness()
    assert [e["log_level"] for e in logs if e["event"] == "oidc_issuer_not_configured"] == ["error"]
    assert caught.value.detail == NO_ISSUER_DETAIL
    assert "KOMMUNE_OIDC_ISSUER" in caught.value.detail
    assert readiness["status"] == "fail"
    assert issuer.discovery_requests == issuer.jwks_requests == 0  # nothing was even asked


# -- audience per service ----------------------------------------------------------------------


async def test_each_service_accepts_only_tokens_listing_its_audience(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    for_documents = issuer.issuer.issue(
        "u1",
        ["staff"],
        extra_claims={"aud": [service_audience("gateway"), service_audience("documents")]},
    )
    documents = TokenVerifier(ISSUER, service_audience("documents"), http)
    assert (await documents.verify(for_documents)).sub == "u1"
    with pytest.raises(Unauthorized, match=r"not meant for this audience \(kommune-ideas\)"):
        await verifier(http).verify(for_documents)
    # The dev issuer's default token lists the gateway and every service.
    everywhere = issuer.issuer.issue("u1", ["staff"])
    for name in ("gateway", "ideas", "documents", "egov", "sensors"):
        v = TokenVerifier(ISSUER, service_audience(name), http)
        assert (await v.verify(everywhere)).sub == "u1"


# -- access tokens only --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "header", "reason"),
    [
        ({"typ": "ID"}, None, "ID token"),
        ({"typ": "Refresh"}, None, "not an access token"),
        ({"typ": "Logout"}, None, "not an access token"),
        ({"typ": None}, None, "does not say it is an access token"),
        ({"typ": ["Bearer"]}, None, "not an access token"),
        ({"typ": None}, {"typ": "id_token+jwt"}, "header typ"),
        ({"typ": None}, {"typ": "logout+jwt"}, "header typ"),
        ({"typ": "ID"}, {"typ": "at+jwt"}, "ID token"),
    ],
)
async def test_tokens_that_are_not_access_tokens_are_refused(
    issuer: ControlledIssuer,
    http: httpx.AsyncClient,
    claims: dict[str, Any],
    header: dict[str, Any] | None,
    reason: str,
) -> None:
    token = issuer.issuer.issue("u1", ["admin"], extra_claims=claims, header=header)
    with pytest.raises(Unauthorized, match=reason):
        await verifier(http).verify(token)


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        ({}, None),  # Keycloak: header typ JWT, claim typ Bearer
        ({"typ": None}, {"typ": "at+jwt"}),  # RFC 9068
        ({"typ": None}, {"typ": "application/at+jwt"}),
        ({}, {"typ": None}),  # no header typ at all, claim typ Bearer
    ],
)
async def test_access_tokens_by_keycloak_or_rfc_9068_are_accepted(
    issuer: ControlledIssuer,
    http: httpx.AsyncClient,
    claims: dict[str, Any],
    header: dict[str, Any] | None,
) -> None:
    token = issuer.issuer.issue("u1", ["staff"], extra_claims=claims, header=header)
    assert (await verifier(http).verify(token)).sub == "u1"


async def test_authorized_parties_restrict_azp_when_configured(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(http, authorized_parties=frozenset({"kommune-web"}))
    with pytest.raises(Unauthorized, match="client this service does not accept"):
        await v.verify(issuer.issuer.issue("u1", []))  # azp kommune-dev
    with pytest.raises(Unauthorized, match="client"):
        await v.verify(issuer.issuer.issue("u1", [], extra_claims={"azp": None}))
    assert await v.verify(issuer.issuer.issue("u1", [], extra_claims={"azp": "kommune-web"}))
    rfc9068 = issuer.issuer.issue("u1", [], extra_claims={"azp": None, "client_id": "kommune-web"})
    assert await v.verify(rfc9068)
    # Not configured: azp is not checked (the audience is what binds a token to a service).
    assert await verifier(http).verify(issuer.issuer.issue("u1", [], extra_claims={"azp": "x"}))


# -- issuer reachability -------------------------------------------------------------------------


async def test_issuer_unreachable_is_503_not_401(issuer: ControlledIssuer) -> None:
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(), timeout=httpx.Timeout(2.0)
    ) as client:
        v = TokenVerifier("http://127.0.0.1:1/auth/dev", AUDIENCE, client)
        with pytest.raises(ServiceUnavailable) as caught:
            await v.verify(issuer.issuer.issue("u1", []))
    assert caught.value.status_code == 503


async def test_issuer_erroring_is_503(issuer: ControlledIssuer, http: httpx.AsyncClient) -> None:
    issuer.up = False
    with pytest.raises(ServiceUnavailable):
        await verifier(http).verify(issuer.issuer.issue("u1", []))


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
        (lambda i: i.issue("u1", [], extra_claims={"aud": None}), "lacks"),
        (lambda i: "not-a-token", "malformed"),
        (lambda i: "a.b.c", "malformed"),
        (lambda i: "x" * 20_000, "malformed"),
        (lambda i: i.issue("u1", [])[:-4] + "AAAA", "signature"),
    ],
)
async def test_invalid_tokens_are_rejected_with_a_reason(
    issuer: ControlledIssuer, http: httpx.AsyncClient, make_token: Any, reason: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier(http).verify(make_token(issuer.issuer))
    assert reason in caught.value.detail
    assert caught.value.status_code == 401


async def test_forged_token_reusing_the_real_kid_fails_the_signature(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    forger = DevIssuer.generate(ISSUER)
    forged = jwt.encode(
        {"alg": "RS256", "kid": issuer.issuer.kid},
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": 4_000_000_000, "typ": "Bearer"},
        forger.key,
    )
    with pytest.raises(Unauthorized, match="signature"):
        await verifier(http).verify(forged)


async def test_alg_none_and_hmac_tokens_are_rejected(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": 4_000_000_000, "typ": "Bearer"}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(Unauthorized, match="RS256"):
        await verifier(http).verify(unsigned)

    # HS256 "signed" with the issuer's public key as the shared secret (key confusion).
    public_n = issuer.issuer.jwks()["keys"][0]["n"]
    hmac_key = OctKey.import_key(public_n.encode())
    hs = jwt.encode(
        {"alg": "HS256", "kid": issuer.issuer.kid}, claims, hmac_key, algorithms=["HS256"]
    )
    with pytest.raises(Unauthorized, match="RS256"):
        await verifier(http).verify(hs)


async def test_leeway_accepts_slight_clock_skew(
    issuer: ControlledIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.issuer.issue("u1", [], expires_in=-5)
    assert (await verifier(http, leeway=30).verify(token)).sub == "u1"
    with pytest.raises(Unauthorized, match="expired"):
        await verifier(http, leeway=0).verify(token)


async def test_discovery_naming_another_issuer_is_refused() -> None:
    # OIDC Discovery: the document's "issuer" must equal the URL it was fetched for.
    elsewhere = ControlledIssuer(DevIssuer.generate("http://elsewhere.test/auth/dev"))
    token = elsewhere.issuer.issue("u1", [], extra_claims={"iss": ISSUER})
    async with elsewhere.client() as http:
        v = verifier(http)
        with pytest.raises(ServiceUnavailable):
            await v.verify(token)
        assert (await v.readiness())["last_error"] == "discovery names another issuer"
    assert elsewhere.jwks_requests == 0


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
