"""The realm export in deploy/keycloak as the real Keycloak serves it: roles, clients, users."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from kommune.testing.keycloak import (
    INBOX_AUDIENCES,
    INBOX_CLIENT,
    PLATFORM_AUDIENCES,
    PLATFORM_ROLES,
    PORTAL_CLIENT,
    SERVICE_CLIENT,
    USER_ROLES,
    KeycloakRealm,
    jwt_parts,
    service_secret,
    user_credentials,
)

from .conftest import KEYCLOAK_TEST_TIMEOUT

pytestmark = pytest.mark.timeout(KEYCLOAK_TEST_TIMEOUT)

PORTAL_REDIRECT = "http://localhost:3000/callback"


@pytest.mark.parametrize("role", USER_ROLES)
async def test_every_test_user_of_the_imported_realm_gets_a_token_with_its_role(
    keycloak_shared_realm: KeycloakRealm, role: str
) -> None:
    """The realm `make up` imports (deploy/local/keycloak.sh --import-realm); read-only here."""
    username, password = user_credentials(role)
    body = await keycloak_shared_realm.password_tokens(username, password)

    header, claims = jwt_parts(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["iss"] == keycloak_shared_realm.issuer
    assert claims["typ"] == "Bearer"
    assert set(PLATFORM_AUDIENCES) <= set(claims["aud"])
    assert role in claims["realm_access"]["roles"]
    assert claims["preferred_username"] == username
    # Exactly one platform role per test user: the role tests mean what they say.
    assert set(claims["realm_access"]["roles"]) & set(PLATFORM_ROLES) == {role}

    _, id_claims = jwt_parts(body["id_token"])
    assert id_claims["typ"] == "ID"
    assert id_claims["sub"] == claims["sub"]


async def test_service_account_gets_a_token_by_client_credentials(
    keycloak_shared_realm: KeycloakRealm,
) -> None:
    _, claims = jwt_parts(await keycloak_shared_realm.service_token())
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == SERVICE_CLIENT
    assert claims["preferred_username"] == f"service-account-{SERVICE_CLIENT}"
    assert set(PLATFORM_AUDIENCES) <= set(claims["aud"])
    assert "operator" in claims["realm_access"]["roles"]


async def test_the_einvoice_inbox_gets_a_token_with_its_role_and_nothing_else(
    keycloak_shared_realm: KeycloakRealm,
) -> None:
    """The inbox's service account: only ``invoice_inbox``, only for the gateway and documents
    (the documents service then lets it hand in invoices and nothing else,
    services/documents/tests/test_invoices.py)."""
    _, claims = jwt_parts(await keycloak_shared_realm.service_token(INBOX_CLIENT))
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == INBOX_CLIENT
    assert claims["preferred_username"] == f"service-account-{INBOX_CLIENT}"
    assert set(claims["aud"]) & set(PLATFORM_AUDIENCES) == set(INBOX_AUDIENCES)
    assert claims["realm_access"]["roles"] == ["invoice_inbox"]


async def test_wrong_password_and_wrong_secret_get_no_token(keycloak_realm: KeycloakRealm) -> None:
    username, _ = user_credentials("staff")
    response = await keycloak_realm.token_response(
        {
            "grant_type": "password",
            "client_id": "kommune-test",
            "username": username,
            "password": "not-the-password",
        }
    )
    assert response.status_code == 400  # RFC 6749 section 5.2
    assert response.json()["error"] == "invalid_grant"

    response = await keycloak_realm.token_response(
        {
            "grant_type": "client_credentials",
            "client_id": SERVICE_CLIENT,
            "client_secret": service_secret() + "x",
        }
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"


async def test_production_clients_refuse_the_password_grant(keycloak_realm: KeycloakRealm) -> None:
    """Only the test-only client of the dev/test overlay allows the password grant."""
    username, password = user_credentials("staff")
    for client in (
        {"client_id": PORTAL_CLIENT},
        {"client_id": SERVICE_CLIENT, "client_secret": service_secret()},
        {"client_id": INBOX_CLIENT, "client_secret": service_secret(INBOX_CLIENT)},
    ):
        response = await keycloak_realm.token_response(
            {"grant_type": "password", "username": username, "password": password, **client}
        )
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] == "unauthorized_client", response.text


async def test_portal_client_requires_pkce_with_s256(keycloak_realm: KeycloakRealm) -> None:
    """The public frontend client: authorization code flow, only with an S256 code challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    authorize = f"{keycloak_realm.issuer}/protocol/openid-connect/auth"
    base = {
        "client_id": PORTAL_CLIENT,
        "response_type": "code",
        "redirect_uri": PORTAL_REDIRECT,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
    }

    with_s256 = await keycloak_realm.http.get(
        authorize,
        params={**base, "code_challenge": challenge.rstrip("="), "code_challenge_method": "S256"},
    )
    assert with_s256.status_code == 200
    assert 'id="kc-form-login"' in with_s256.text  # the login page: the request was accepted

    for params in (
        base,  # no challenge at all
        {**base, "code_challenge": verifier, "code_challenge_method": "plain"},
    ):
        refused = await keycloak_realm.http.get(authorize, params=params)
        # Keycloak sends the browser back to the client with the error (never the login page).
        assert refused.status_code == 302, refused.text[:300]
        location = refused.headers["location"]
        assert location.startswith(PORTAL_REDIRECT)
        assert "error=invalid_request" in location
        assert "kc-form-login" not in refused.text

    unknown_redirect = await keycloak_realm.http.get(
        authorize,
        params={
            **base,
            "redirect_uri": "https://attacker.example/callback",
            "code_challenge": challenge.rstrip("="),
            "code_challenge_method": "S256",
        },
    )
    assert unknown_redirect.status_code == 400
    assert "kc-form-login" not in unknown_redirect.text
