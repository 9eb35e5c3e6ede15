"""Keycloak tokens at the gateway and at the ideas service: who gets in, and who does not.

The refusals are shown against a token that *is* accepted, so each one is refused for the
reason named and nothing else: the same user from another realm, the same realm with another
audience, the same token after it expired, the same user after a key rotation.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
import pytest_asyncio

from kommune.testing.keycloak import (
    CreateRealm,
    KeycloakRealm,
    jwt_parts,
    password_client,
    user_credentials,
)

from .conftest import KEYCLOAK_TEST_TIMEOUT, KeycloakPlatform, VerifierProfile, bearer

pytestmark = pytest.mark.timeout(KEYCLOAK_TEST_TIMEOUT)

PROBLEM_JSON = "application/problem+json"
IDEAS = "/api/v1/ideas"
DEPARTMENTS = "/api/v1/departments"


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def token_from_client(realm: KeycloakRealm, client_id: str, role: str = "staff") -> str:
    username, password = user_credentials(role)
    token: str = (await realm.password_tokens(username, password, client_id=client_id))[
        "access_token"
    ]
    return token


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def short_lived_token(keycloak_platform: KeycloakPlatform) -> str:
    """A staff token that lives 1 s. Made when the module's
    first test starts, so that its expiry (plus the verifier's leeway) has mostly passed by
    the time the expiry test runs."""
    realm = keycloak_platform.realm
    client_id = f"short-{uuid.uuid4().hex[:6]}"
    await realm.admin.create_client(
        realm.name,
        password_client(client_id, ["kommune-gateway", "kommune-ideas"], access_token_lifespan=1),
    )
    token = await token_from_client(realm, client_id)
    _, claims = jwt_parts(token)
    assert claims["exp"] - claims["iat"] == 1
    # Accepted while fresh (the leeway keeps it so for a while): it is refused later for its age.
    response = await keycloak_platform.gateway.get(IDEAS, headers=bearer(token))
    assert response.status_code == 200, response.text
    return token


async def test_users_and_the_service_account_reach_the_ideas_service_through_the_gateway(
    keycloak_platform: KeycloakPlatform, short_lived_token: str
) -> None:
    realm, gateway = keycloak_platform.realm, keycloak_platform.gateway
    admin = bearer(await realm.user_token("admin"))
    staff = bearer(await realm.user_token("staff"))
    citizen = bearer(await realm.user_token("citizen"))
    service = bearer(await realm.service_token())

    code = f"kc-{uuid.uuid4().hex[:6]}"
    created = await gateway.post(
        DEPARTMENTS, json={"code": code, "name": f"Hauptamt {code}"}, headers=admin
    )
    assert created.status_code == 201, created.text

    for headers in (staff, service):
        listed = await gateway.get(DEPARTMENTS, params={"limit": 100}, headers=headers)
        assert listed.status_code == 200, listed.text
        assert code in {item["code"] for item in listed.json()["items"]}

    # A citizen is authenticated, but the intranet is for staff: 403, not 401.
    refused = await gateway.get(IDEAS, headers=citizen)
    assert refused.status_code == 403, refused.text
    # A staff member may not create departments: the roles from Keycloak are what counts.
    forbidden = await gateway.post(
        DEPARTMENTS, json={"code": f"x-{code}", "name": "X"}, headers=staff
    )
    assert forbidden.status_code == 403, forbidden.text

    assert_unauthorized(await gateway.get(IDEAS))


async def test_the_id_token_is_not_an_access_token(keycloak_platform: KeycloakPlatform) -> None:
    username, password = user_credentials("staff")
    body = await keycloak_platform.realm.password_tokens(username, password)
    assert (
        await keycloak_platform.gateway.get(IDEAS, headers=bearer(body["access_token"]))
    ).status_code == 200
    assert_unauthorized(
        await keycloak_platform.gateway.get(IDEAS, headers=bearer(body["id_token"]))
    )
    assert_unauthorized(await keycloak_platform.ideas.get(IDEAS, headers=bearer(body["id_token"])))


async def test_an_id_token_with_the_platform_audience_is_still_refused(
    keycloak_platform: KeycloakPlatform,
) -> None:
    """Audience mappers that also write into ID tokens (a common admin slip) must not turn an
    ID token into an access token: only ``typ: Bearer`` is accepted."""
    realm = keycloak_platform.realm
    client_id = f"id-aud-{uuid.uuid4().hex[:6]}"
    client = password_client(client_id, ["kommune-gateway", "kommune-ideas"])
    for mapper in client["protocolMappers"]:
        mapper["config"]["id.token.claim"] = "true"
    await realm.admin.create_client(realm.name, client)
    username, password = user_credentials("staff")
    body = await realm.password_tokens(username, password, client_id=client_id)
    _, id_claims = jwt_parts(body["id_token"])
    assert id_claims["typ"] == "ID"
    assert "kommune-gateway" in id_claims["aud"]
    assert "kommune-ideas" in id_claims["aud"]

    assert_unauthorized(await keycloak_platform.ideas.get(IDEAS, headers=bearer(body["id_token"])))
    assert_unauthorized(
        await keycloak_platform.gateway.get(IDEAS, headers=bearer(body["id_token"]))
    )


async def test_each_service_accepts_only_tokens_for_its_own_audience(
    keycloak_platform: KeycloakPlatform,
) -> None:
    realm, gateway, ideas = (
        keycloak_platform.realm,
        keycloak_platform.gateway,
        keycloak_platform.ideas,
    )
    clients = {
        "gateway-only": ["kommune-gateway"],
        "ideas-only": ["kommune-ideas"],
        "elsewhere": ["kommune-reports"],
    }
    tokens = {}
    for name, audiences in clients.items():
        client_id = f"{name}-{uuid.uuid4().hex[:6]}"
        await realm.admin.create_client(realm.name, password_client(client_id, audiences))
        tokens[name] = await token_from_client(realm, client_id)
        assert set(jwt_parts(tokens[name])[1]["aud"]) & {"kommune-gateway", "kommune-ideas"} == (
            set(audiences) & {"kommune-gateway", "kommune-ideas"}
        )

    # Meant for another application of the city: refused by both.
    assert_unauthorized(await gateway.get(IDEAS, headers=bearer(tokens["elsewhere"])))
    assert_unauthorized(await ideas.get(IDEAS, headers=bearer(tokens["elsewhere"])))
    # Meant for the ideas service only: the gateway refuses it, the service itself accepts it.
    assert_unauthorized(await gateway.get(IDEAS, headers=bearer(tokens["ideas-only"])))
    assert (await ideas.get(IDEAS, headers=bearer(tokens["ideas-only"]))).status_code == 200
    # Meant for the gateway only: the gateway lets it pass, the ideas service behind it refuses it.
    assert_unauthorized(await gateway.get(IDEAS, headers=bearer(tokens["gateway-only"])))
    assert_unauthorized(await ideas.get(IDEAS, headers=bearer(tokens["gateway-only"])))


async def test_a_token_from_another_realm_is_refused(
    keycloak_platform: KeycloakPlatform, keycloak_realm_factory: CreateRealm
) -> None:
    """Same clients, users, roles and audiences, another realm: another issuer and other keys."""
    other = await keycloak_realm_factory("elsewhere")
    foreign = await other.user_token("admin")
    own = await keycloak_platform.realm.user_token("admin")
    assert set(jwt_parts(foreign)[1]["aud"]) == set(jwt_parts(own)[1]["aud"])
    assert jwt_parts(foreign)[1]["iss"] == other.issuer

    assert (await keycloak_platform.gateway.get(IDEAS, headers=bearer(own))).status_code == 200
    assert_unauthorized(await keycloak_platform.gateway.get(IDEAS, headers=bearer(foreign)))
    assert_unauthorized(await keycloak_platform.ideas.get(IDEAS, headers=bearer(foreign)))


async def test_a_rotated_signing_key_is_followed_without_a_restart(
    keycloak_platform: KeycloakPlatform, verifier: VerifierProfile
) -> None:
    realm, gateway, ideas = (
        keycloak_platform.realm,
        keycloak_platform.gateway,
        keycloak_platform.ideas,
    )
    old_key = await realm.admin.active_signing_key(realm.name)
    old_token = await realm.user_token("staff")
    assert jwt_parts(old_token)[0]["kid"] == old_key["kid"]
    assert (await gateway.get(IDEAS, headers=bearer(old_token))).status_code == 200
    assert (await ideas.get(IDEAS, headers=bearer(old_token))).status_code == 200
    # Both verifiers have fetched the realm's keys by now (at the latest).
    fetched_by = time.monotonic()

    # Rotate: a new key with a higher priority signs from now on; the old one is still published.
    component = await realm.admin.add_rsa_key(
        realm.name, priority=int(old_key["providerPriority"]) + 100
    )
    new_key = await realm.admin.active_signing_key(realm.name)
    assert new_key["providerId"] == component
    assert new_key["kid"] != old_key["kid"]
    assert {old_key["kid"], new_key["kid"]} <= await realm.jwks_kids()
    new_token = await realm.user_token("staff")
    assert jwt_parts(new_token)[0]["kid"] == new_key["kid"]

    await verifier.wait_until_refetch_allowed(fetched_by)
    assert (await gateway.get(IDEAS, headers=bearer(new_token))).status_code == 200
    assert (await ideas.get(IDEAS, headers=bearer(new_token))).status_code == 200
    # Tokens signed before the rotation stay valid while the old key is published.
    assert (await gateway.get(IDEAS, headers=bearer(old_token))).status_code == 200

    # Retire the old key: first passive (verifies, no longer signs), then gone from the JWKS.
    await realm.admin.set_key_active(realm.name, old_key["providerId"], active=False)
    await realm.admin.delete_component(realm.name, old_key["providerId"])
    assert old_key["kid"] not in await realm.jwks_kids()
    latest = await realm.user_token("staff")
    assert jwt_parts(latest)[0]["kid"] == new_key["kid"]
    assert (await gateway.get(IDEAS, headers=bearer(latest))).status_code == 200


async def test_an_expired_token_is_refused(
    keycloak_platform: KeycloakPlatform,
    short_lived_token: str,
    verifier: VerifierProfile,
) -> None:
    """The token was accepted when the module started (see ``short_lived_token``)."""
    token = short_lived_token
    # Expiry is a rule of time: wait until exp plus the verifier's leeway has passed (Keycloak
    # and the verifier read the same clock: this machine's).
    remaining = jwt_parts(token)[1]["exp"] + verifier.leeway + 1 - time.time()
    if remaining > 0:
        await asyncio.sleep(remaining)
    assert_unauthorized(await keycloak_platform.gateway.get(IDEAS, headers=bearer(token)))
    assert_unauthorized(await keycloak_platform.ideas.get(IDEAS, headers=bearer(token)))
