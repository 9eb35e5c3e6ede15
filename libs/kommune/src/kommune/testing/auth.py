"""Pytest fixtures for authentication: a dev OIDC issuer served in-process, and tokens.

Registered for the whole repository by the root ``conftest.py``. Services verify tokens exactly as
in production — OIDC discovery, JWKS, RS256, claims — against an issuer that lives in the test
process, reached through an ``httpx.ASGITransport``:

.. code-block:: python

    app = create_service_app(settings, title="...", routers=[router],
                             http_transport=issuer_transport)

    async def test_staff_can_list(client, token):
        response = await client.get("/api/v1/ideas", headers={"Authorization": token()})
        assert response.status_code == 200

    async def test_citizen_is_refused(client, auth_headers):
        response = await client.get("/api/v1/ideas", headers=auth_headers(roles=["citizen"]))
        assert response.status_code == 403

Fixtures:

* ``dev_issuer`` (session): a :class:`~kommune.auth.dev_issuer.DevIssuer` with a temporary key
  and the issuer URL :data:`TEST_ISSUER_URL`. Use ``dev_issuer.issue(...)`` directly for unusual
  tokens (``expires_in=-60`` for an expired one, ``extra_claims={"aud": "other"}``, ...).
* ``issuer_transport`` (session): the transport serving the issuer at ``/auth/dev`` of
  ``http://issuer.test``; pass it as ``http_transport=`` to ``create_service_app``. Settings must
  use ``oidc_issuer=TEST_ISSUER_URL`` (see :func:`issuer_settings_overrides`).
* ``token`` (function): ``token(sub="u1", roles=("staff",), name=None, department=None,
  **issue_kwargs) -> str`` — the ``Authorization`` header *value* ``"Bearer <jwt>"``.
* ``auth_headers`` (function): the same arguments, returns ``{"Authorization": "Bearer <jwt>"}``.

:func:`lifespan_client` runs an app's lifespan (database engine, verifier, relay, ...) and gives
an ``httpx.AsyncClient`` talking to it in-process — ``httpx.ASGITransport`` alone runs no
lifespan, so ``request.state`` would be empty::

    async with lifespan_client(app) as client:
        response = await client.get("/readyz")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from kommune.auth.dev_issuer import DEV_ISSUER_PREFIX, DevIssuer, dev_issuer_router
from kommune.errors import install_problem_handlers

TEST_ISSUER_ORIGIN = "http://issuer.test"
TEST_ISSUER_URL = f"{TEST_ISSUER_ORIGIN}{DEV_ISSUER_PREFIX}"
TEST_AUDIENCE = "kommune"


class TokenFactory(Protocol):
    def __call__(
        self,
        sub: str = "u1",
        roles: Sequence[str] = ("staff",),
        name: str | None = None,
        department: str | None = None,
        **issue_kwargs: Any,
    ) -> str: ...


class HeadersFactory(Protocol):
    def __call__(
        self,
        sub: str = "u1",
        roles: Sequence[str] = ("staff",),
        name: str | None = None,
        department: str | None = None,
        **issue_kwargs: Any,
    ) -> dict[str, str]: ...


def issuer_settings_overrides() -> dict[str, str]:
    """Settings values that make a service trust the test issuer."""
    return {"oidc_issuer": TEST_ISSUER_URL, "oidc_audience": TEST_AUDIENCE}


def issuer_app(issuer: DevIssuer) -> FastAPI:
    """A minimal app serving ``issuer`` under ``/auth/dev`` (with problem responses)."""
    app = FastAPI(openapi_url=None)
    install_problem_handlers(app)
    app.include_router(dev_issuer_router(issuer), prefix=DEV_ISSUER_PREFIX)
    return app


@asynccontextmanager
async def lifespan_client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield a client for it (each request gets the lifespan state)."""
    async with app.router.lifespan_context(app) as state:
        lifespan_state = dict(state or {})

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                scope["state"] = dict(lifespan_state)  # shallow copy per request, like uvicorn
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@pytest.fixture(scope="session")
def dev_issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    key_file: Path = tmp_path_factory.mktemp("dev-issuer") / "jwk.json"
    return DevIssuer.from_key_file(key_file, TEST_ISSUER_URL, audience=TEST_AUDIENCE)


@pytest.fixture(scope="session")
def issuer_transport(dev_issuer: DevIssuer) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=issuer_app(dev_issuer))


@pytest.fixture
def token(dev_issuer: DevIssuer) -> TokenFactory:
    def make(
        sub: str = "u1",
        roles: Sequence[str] = ("staff",),
        name: str | None = None,
        department: str | None = None,
        **issue_kwargs: Any,
    ) -> str:
        return "Bearer " + dev_issuer.issue(
            sub, tuple(str(role) for role in roles), name, department, **issue_kwargs
        )

    return make


@pytest.fixture
def auth_headers(token: TokenFactory) -> HeadersFactory:
    def make(
        sub: str = "u1",
        roles: Sequence[str] = ("staff",),
        name: str | None = None,
        department: str | None = None,
        **issue_kwargs: Any,
    ) -> dict[str, str]:
        return {"Authorization": token(sub, roles, name, department, **issue_kwargs)}

    return make
