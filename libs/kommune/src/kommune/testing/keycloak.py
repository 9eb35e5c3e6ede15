"""Pytest fixtures for a real Keycloak: the server, its admin REST API, isolated realms, tokens.

Registered for the whole repository by the root ``conftest.py``; nothing starts unless a test
asks for one of these fixtures, so test runs that select no Keycloak test stay fast.

Where the server comes from, first match wins:

1. ``KOMMUNE_TEST_KEYCLOAK_URL`` (with ``KOMMUNE_TEST_KEYCLOAK_ADMIN_USER`` and
   ``KOMMUNE_TEST_KEYCLOAK_ADMIN_PASSWORD``, an admin of the master realm; ``keycloak_shared_realm``
   also expects the realm ``kommune`` imported with its dev/test overlay there);
2. the project-local runtime: ``deploy/local/keycloak.sh start`` (idempotent; a running server is
   reused and left running; the first start on a machine fetches and builds Keycloak, ~2-3 min).

Many test sessions may share one Keycloak, and tests rotate keys and change settings, so each
session works in its own copy of the ``kommune`` realm (``keycloak_realm``: the export in
``deploy/keycloak`` with its dev/test overlay, imported through the admin API as
``kommune-t<hex>``, deleted when the session ends), like each works in its own database::

    async def test_staff_reads(keycloak_realm):
        token = await keycloak_realm.user_token("staff")         # password grant, test client
        service = await keycloak_realm.service_token()          # client credentials
        settings = {"KOMMUNE_OIDC_ISSUER": keycloak_realm.issuer, ...}
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
import pytest
import pytest_asyncio
import structlog

from kommune.testing.infra import repo_root, run_local_script

log = structlog.get_logger(__name__)

URL_ENV = "KOMMUNE_TEST_KEYCLOAK_URL"
ADMIN_USER_ENV = "KOMMUNE_TEST_KEYCLOAK_ADMIN_USER"
ADMIN_PASSWORD_ENV = "KOMMUNE_TEST_KEYCLOAK_ADMIN_PASSWORD"  # noqa: S105 (a variable name)

TEST_CLIENT = "kommune-test"
"""Public client with the password grant; only in the dev/test overlay of the realm."""
SERVICE_CLIENT = "kommune-service"
INBOX_CLIENT = "kommune-einvoice"
"""The e-invoice inbox's confidential client: its tokens carry only ``invoice_inbox``."""
INBOX_AUDIENCES = ("kommune-gateway", "kommune-documents")
PORTAL_CLIENT = "kommune-portal"
PLATFORM_AUDIENCES = (
    "kommune-gateway",
    "kommune-ideas",
    "kommune-documents",
    "kommune-egov",
    "kommune-sensors",
)
PLATFORM_ROLES = (
    "citizen",
    "staff",
    "change_agent",
    "project_lead",
    "caseworker",
    "records_manager",
    "operator",
    "admin",
    "invoice_inbox",
)
SERVICE_ACCOUNT_ROLES = ("invoice_inbox",)
"""Platform roles only a service account holds: no test user has them."""
USER_ROLES = tuple(role for role in PLATFORM_ROLES if role not in SERVICE_ACCOUNT_ROLES)
"""The roles the dev/test overlay has one test user each for."""
KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"


def compose_module() -> ModuleType:
    """``deploy/keycloak/compose_realm.py`` (stdlib only; also run by keycloak.sh)."""
    path = repo_root() / "deploy" / "keycloak" / "compose_realm.py"
    spec = importlib.util.spec_from_file_location("kommune_compose_realm", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compose_realm(name: str | None = None) -> dict[str, Any]:
    """The ``kommune`` realm with its dev/test overlay, optionally renamed."""
    realm: dict[str, Any] = compose_module().compose(dev=True, realm=name)
    return realm


def user_credentials(role: str) -> tuple[str, str]:
    """(username, password) of the overlay's test user holding ``role``."""
    for user in compose_realm()["users"]:
        if role in user.get("realmRoles", []) and user.get("credentials"):
            return user["username"], user["credentials"][0]["value"]
    raise KeyError(f"the dev/test overlay has no test user with role {role!r}")


def service_secret(client_id: str = SERVICE_CLIENT) -> str:
    """The dev/test overlay's secret of the confidential client ``client_id``."""
    for client in compose_realm()["clients"]:
        if client["clientId"] == client_id:
            return str(client["secret"])
    raise KeyError(client_id)


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, unverified: for assertions about what Keycloak issued."""

    def part(segment: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )
        return data

    header, claims, _ = token.split(".")
    return part(header), part(claims)


# ---- the server ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeycloakServer:
    url: str
    admin_user: str
    admin_password: str

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"


def _local_keycloak() -> KeycloakServer:
    run_local_script("keycloak", "start", timeout=900)
    root = repo_root()
    result = subprocess.run(  # noqa: S603 (a fixed script of this repository)
        ["bash", str(root / "deploy" / "local" / "keycloak.sh"), "env"],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    with open(values["KOMMUNE_KEYCLOAK_ADMIN_PASSWORD_FILE"], encoding="utf-8") as file:
        password = file.read().strip()
    return KeycloakServer(
        values["KOMMUNE_KEYCLOAK_URL"], values["KOMMUNE_KEYCLOAK_ADMIN_USER"], password
    )


@pytest.fixture(scope="session")
def keycloak_server() -> KeycloakServer:
    """The Keycloak the tests use (started on demand; see the module docstring)."""
    if url := os.environ.get(URL_ENV):
        return KeycloakServer(
            url.rstrip("/"),
            os.environ.get(ADMIN_USER_ENV, "admin"),
            os.environ.get(ADMIN_PASSWORD_ENV, ""),
        )
    return _local_keycloak()


# ---- the admin REST API ----------------------------------------------------------------------


class KeycloakAdmin:
    """The parts of Keycloak's admin REST API the tests use (``/admin/realms/...``)."""

    def __init__(self, server: KeycloakServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self._token: str | None = None
        self._token_expires = 0.0

    async def _headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() > self._token_expires:
            response = await self.http.post(
                f"{self.server.url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self.server.admin_user,
                    "password": self.server.admin_password,
                },
            )
            response.raise_for_status()
            body = response.json()
            self._token = body["access_token"]
            self._token_expires = time.monotonic() + body["expires_in"] - 10
        return {"Authorization": f"Bearer {self._token}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``/admin/realms<path>``; raises on any 4xx/5xx."""
        response = await self.http.request(
            method, f"{self.server.url}/admin/realms{path}", headers=await self._headers(), **kwargs
        )
        if response.is_error:
            raise AssertionError(
                f"Keycloak admin {method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response

    async def create_realm(self, representation: dict[str, Any]) -> None:
        await self.request("POST", "", json=representation)

    async def delete_realm(self, realm: str) -> None:
        await self.request("DELETE", f"/{realm}")

    async def update_realm(self, realm: str, changes: dict[str, Any]) -> None:
        await self.request("PUT", f"/{realm}", json=changes)

    async def realm_id(self, realm: str) -> str:
        return str((await self.request("GET", f"/{realm}")).json()["id"])

    async def keys(self, realm: str) -> list[dict[str, Any]]:
        """The realm's keys (``kid``, ``providerId``, ``providerPriority``, ``status``, ...)."""
        keys: list[dict[str, Any]] = (await self.request("GET", f"/{realm}/keys")).json()["keys"]
        return keys

    async def active_signing_key(self, realm: str, algorithm: str = "RS256") -> dict[str, Any]:
        active = [
            key
            for key in await self.keys(realm)
            if key.get("algorithm") == algorithm and key.get("status") == "ACTIVE"
        ]
        return max(active, key=lambda key: int(key.get("providerPriority", 0)))

    async def add_rsa_key(self, realm: str, *, priority: int, name: str | None = None) -> str:
        """A new ``rsa-generated`` key provider; Keycloak signs with the highest-priority key."""
        response = await self.request(
            "POST",
            f"/{realm}/components",
            json={
                "name": name or f"rsa-rotated-{uuid.uuid4().hex[:6]}",
                "providerId": "rsa-generated",
                "providerType": KEY_PROVIDER_TYPE,
                "parentId": await self.realm_id(realm),
                "config": {
                    "priority": [str(priority)],
                    "enabled": ["true"],
                    "active": ["true"],
                    "keySize": ["2048"],
                    "algorithm": ["RS256"],
                },
            },
        )
        return response.headers["Location"].rsplit("/", 1)[-1]

    async def component(self, realm: str, component_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (
            await self.request("GET", f"/{realm}/components/{component_id}")
        ).json()
        return data

    async def set_key_active(self, realm: str, component_id: str, *, active: bool) -> None:
        """Passive keys still verify (they stay in the JWKS) but no longer sign."""
        component = await self.component(realm, component_id)
        component["config"]["active"] = ["true" if active else "false"]
        await self.request("PUT", f"/{realm}/components/{component_id}", json=component)

    async def delete_component(self, realm: str, component_id: str) -> None:
        await self.request("DELETE", f"/{realm}/components/{component_id}")

    async def create_client(self, realm: str, representation: dict[str, Any]) -> str:
        response = await self.request("POST", f"/{realm}/clients", json=representation)
        return response.headers["Location"].rsplit("/", 1)[-1]


def audience_mapper(audience: str) -> dict[str, Any]:
    """A protocol mapper that adds ``audience`` to the access token's ``aud``."""
    return {
        "name": f"audience {audience}",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {
            "included.custom.audience": audience,
            "access.token.claim": "true",
            "id.token.claim": "false",
        },
    }


def password_client(
    client_id: str, audiences: Sequence[str], *, access_token_lifespan: int | None = None
) -> dict[str, Any]:
    """A public test client with the password grant whose tokens carry exactly ``audiences``."""
    attributes = {}
    if access_token_lifespan is not None:
        attributes["access.token.lifespan"] = str(access_token_lifespan)
    return {
        "clientId": client_id,
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "attributes": attributes,
        "protocolMappers": [audience_mapper(audience) for audience in audiences],
    }


# ---- realms and tokens -----------------------------------------------------------------------


@dataclass
class KeycloakRealm:
    """One realm of the test Keycloak, with token helpers (each call is a real token request)."""

    name: str
    server: KeycloakServer
    admin: KeycloakAdmin
    http: httpx.AsyncClient

    @property
    def issuer(self) -> str:
        return self.server.issuer(self.name)

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    async def token_response(self, form: dict[str, str]) -> httpx.Response:
        return await self.http.post(self.token_endpoint, data=form)

    async def tokens(self, form: dict[str, str]) -> dict[str, Any]:
        response = await self.token_response(form)
        assert response.status_code == 200, f"{form.get('grant_type')}: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    async def password_tokens(
        self, username: str, password: str, *, client_id: str = TEST_CLIENT
    ) -> dict[str, Any]:
        """The token response (access, ID, refresh token) of a password grant."""
        return await self.tokens(
            {
                "grant_type": "password",
                "client_id": client_id,
                "username": username,
                "password": password,
                "scope": "openid",
            }
        )

    async def user_token(self, role: str, *, client_id: str = TEST_CLIENT) -> str:
        """An access token of the overlay's test user holding ``role``."""
        username, password = user_credentials(role)
        token: str = (await self.password_tokens(username, password, client_id=client_id))[
            "access_token"
        ]
        return token

    async def service_token(
        self, client_id: str = SERVICE_CLIENT, secret: str | None = None
    ) -> str:
        """An access token of the service account (client credentials grant)."""
        body = await self.tokens(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret if secret is not None else service_secret(client_id),
            }
        )
        token: str = body["access_token"]
        return token

    async def jwks_kids(self) -> set[str]:
        discovery = (await self.http.get(f"{self.issuer}/.well-known/openid-configuration")).json()
        document = (await self.http.get(discovery["jwks_uri"])).json()
        return {key["kid"] for key in document["keys"] if key.get("use") == "sig"}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keycloak_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keycloak_admin(
    keycloak_server: KeycloakServer, keycloak_http: httpx.AsyncClient
) -> KeycloakAdmin:
    return KeycloakAdmin(keycloak_server, keycloak_http)


CreateRealm = Callable[..., Awaitable[KeycloakRealm]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keycloak_realm_factory(
    keycloak_server: KeycloakServer, keycloak_admin: KeycloakAdmin, keycloak_http: httpx.AsyncClient
) -> AsyncIterator[CreateRealm]:
    """Factory ``await keycloak_realm_factory("other")``: a fresh copy of the ``kommune`` realm
    named ``<prefix>-t<hex>``; every realm it made is deleted when the session ends."""
    created: list[str] = []

    async def factory(prefix: str = "kommune") -> KeycloakRealm:
        name = f"{prefix}-t{uuid.uuid4().hex[:8]}"
        await keycloak_admin.create_realm(compose_realm(name))
        created.append(name)
        return KeycloakRealm(name, keycloak_server, keycloak_admin, keycloak_http)

    yield factory

    for name in created:
        try:
            await keycloak_admin.delete_realm(name)
        except (AssertionError, httpx.HTTPError) as exc:  # best effort, like dropped databases
            log.warning("test_realm_not_deleted", realm=name, error=str(exc))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keycloak_realm(keycloak_realm_factory: CreateRealm) -> KeycloakRealm:
    """This session's own copy of the ``kommune`` realm (free to rotate keys in)."""
    return await keycloak_realm_factory("kommune")


@pytest.fixture(scope="session")
def keycloak_shared_realm(
    keycloak_server: KeycloakServer, keycloak_admin: KeycloakAdmin, keycloak_http: httpx.AsyncClient
) -> KeycloakRealm:
    """The ``kommune`` realm as ``make up`` imported it: read-only for tests (others share it)."""
    return KeycloakRealm("kommune", keycloak_server, keycloak_admin, keycloak_http)
