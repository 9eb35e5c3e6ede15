"""The realm export's production shape carries no test doors (no Keycloak needed for these)."""

from __future__ import annotations

from typing import Any

from kommune.auth.principal import Role
from kommune.testing.keycloak import (
    INBOX_AUDIENCES,
    INBOX_CLIENT,
    PLATFORM_AUDIENCES,
    PLATFORM_ROLES,
    PORTAL_CLIENT,
    SERVICE_CLIENT,
    TEST_CLIENT,
    USER_ROLES,
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
    assert set(PLATFORM_ROLES) == {str(role) for role in Role}  # the realm knows the code's roles
    by_id = clients(realm)
    assert set(by_id) == {PORTAL_CLIENT, SERVICE_CLIENT, INBOX_CLIENT}

    portal = by_id[PORTAL_CLIENT]
    assert portal["publicClient"] is True
    assert portal["standardFlowEnabled"] is True
    assert portal["directAccessGrantsEnabled"] is False
    assert portal["implicitFlowEnabled"] is False
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == []  # the city sets its own: unusable until then

    for service in (by_id[SERVICE_CLIENT], by_id[INBOX_CLIENT]):
        assert service["publicClient"] is False
        assert service["serviceAccountsEnabled"] is True
        assert service["standardFlowEnabled"] is False
        assert service["implicitFlowEnabled"] is False
        assert service["directAccessGrantsEnabled"] is False
        assert "secret" not in service  # Keycloak generates one at import

    assert audiences(by_id[PORTAL_CLIENT]) == set(PLATFORM_AUDIENCES)
    assert audiences(by_id[SERVICE_CLIENT]) == set(PLATFORM_AUDIENCES)
    assert audiences(by_id[INBOX_CLIENT]) == set(INBOX_AUDIENCES)

    users = {user["username"]: user for user in realm["users"]}
    assert list(users) == [f"service-account-{SERVICE_CLIENT}", f"service-account-{INBOX_CLIENT}"]
    assert set(users[f"service-account-{INBOX_CLIENT}"]["realmRoles"]) & set(PLATFORM_ROLES) == {
        "invoice_inbox"
    }
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

    assert by_id[INBOX_CLIENT]["secret"]
    assert by_id[INBOX_CLIENT]["fullScopeAllowed"] is False  # unchanged by the overlay

    users = [user for user in realm["users"] if user.get("credentials")]
    roles = [set(user["realmRoles"]) & set(PLATFORM_ROLES) for user in users]
    # One test user per role people hold; the inbox's role only its service account has.
    assert sorted(next(iter(r)) for r in roles) == sorted(USER_ROLES)
    assert all(len(r) == 1 for r in roles)


def test_a_renamed_copy_keeps_its_users_default_role() -> None:
    realm = compose_realm("kommune-t1234")
    assert realm["realm"] == "kommune-t1234"
    for user in realm["users"]:
        assert "default-roles-kommune-t1234" in user["realmRoles"]
        assert "default-roles-kommune" not in user["realmRoles"]


def test_the_inbox_client_can_put_nothing_but_its_role_into_a_token() -> None:
    """Least privilege in depth: even if somebody gives its service account another role later,
    the inbox's tokens carry only ``invoice_inbox`` (no full scope, one scope mapping)."""
    realm = compose_module().compose(dev=False)
    assert clients(realm)[INBOX_CLIENT]["fullScopeAllowed"] is False
    assert [m for m in realm["scopeMappings"] if m.get("client") == INBOX_CLIENT] == [
        {"client": INBOX_CLIENT, "roles": ["invoice_inbox"]}
    ]
