"""The realm export's production shape carries no test doors (no Keycloak needed for these)."""

from __future__ import annotations

from typing import Any

from kommune.testing.keycloak import (
    PLATFORM_AUDIENCES,
    PLATFORM_ROLES,
    PORTAL_CLIENT,
    SERVICE_CLIENT,
    TEST_CLIENT,
    compose_module,
    compose_realm,
)


def clients(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {client["clientId"]: client for client in realm["clients"]}


def audiences(client: dict[str, Any]) -> set[str]:
    return {
        mapper["config"]["included.custom.audience"]
        for mapper in client.get("protocolMappers", [])
        if mapper["protocolMapper"] == "oidc-audience-mapper"
        and mapper["config"].get("access.token.claim") == "true"
    }


def test_production_shape_has_roles_clients_and_no_test_users_or_secrets() -> None:
    realm = compose_module().compose(dev=False)

    assert realm["realm"] == "kommune"
    assert {role["name"] for role in realm["roles"]["realm"]} == set(PLATFORM_ROLES)
    by_id = clients(realm)
    assert set(by_id) == {PORTAL_CLIENT, SERVICE_CLIENT}

    portal = by_id[PORTAL_CLIENT]
    assert portal["publicClient"] is True
    assert portal["standardFlowEnabled"] is True
    assert portal["directAccessGrantsEnabled"] is False
    assert portal["implicitFlowEnabled"] is False
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == []  # the city sets its own: unusable until then

    service = by_id[SERVICE_CLIENT]
    assert service["publicClient"] is False
    assert service["serviceAccountsEnabled"] is True
    assert service["standardFlowEnabled"] is False
    assert service["directAccessGrantsEnabled"] is False
    assert "secret" not in service  # Keycloak generates one at import

    for client in by_id.values():
        assert audiences(client) == set(PLATFORM_AUDIENCES)

    assert [user["username"] for user in realm["users"]] == [f"service-account-{SERVICE_CLIENT}"]
    assert not any("credentials" in user for user in realm["users"])
    assert "hashIterations" not in realm["passwordPolicy"]  # Keycloak's default hashing


def test_dev_overlay_adds_the_test_client_and_one_user_per_role() -> None:
    realm = compose_realm()
    by_id = clients(realm)

    assert by_id[TEST_CLIENT]["directAccessGrantsEnabled"] is True
    assert audiences(by_id[TEST_CLIENT]) == set(PLATFORM_AUDIENCES)
    # The overlay changes the production clients only where it says so.
    assert by_id[PORTAL_CLIENT]["directAccessGrantsEnabled"] is False
    assert by_id[PORTAL_CLIENT]["redirectUris"]
    assert audiences(by_id[PORTAL_CLIENT]) == set(PLATFORM_AUDIENCES)
    assert by_id[SERVICE_CLIENT]["secret"]

    users = [user for user in realm["users"] if user.get("credentials")]
    roles = [set(user["realmRoles"]) & set(PLATFORM_ROLES) for user in users]
    assert sorted(next(iter(r)) for r in roles) == sorted(PLATFORM_ROLES)
    assert all(len(r) == 1 for r in roles)


def test_a_renamed_copy_keeps_its_users_default_role() -> None:
    realm = compose_realm("kommune-t1234")
    assert realm["realm"] == "kommune-t1234"
    for user in realm["users"]:
        assert "default-roles-kommune-t1234" in user["realmRoles"]
        assert "default-roles-kommune" not in user["realmRoles"]
