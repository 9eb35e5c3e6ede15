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
  and the issuer URL :data:`TEST_ISSUER_URL`; its tokens' ``aud`` lists :data:`TEST_AUDIENCES`
  (the gateway, every platform service by its default audience ``kommune-<service_name>``, and
  :data:`TEST_APP_AUDIENCE` for throwaway apps). Use ``dev_issuer.issue(...)`` directly for
  unusual tokens (``expires_in=-60`` for an expired one, ``extra_claims={"aud": "other"}``,
  ``extra_claims={"typ": "ID"}`` for an ID token, ...).
* ``issuer_transport`` (session): the transport serving the issuer at ``/auth/dev`` of
  ``http://issuer.test``; pass it as ``http_transport=`` to ``create_service_app``. Settings must
  set the environment to ``test`` and ``oidc_issuer=TEST_ISSUER_URL`` explicitly (see
  :func:`issuer_settings_overrides`): the defaults are production and no issuer, which accept
  no token at all.
* ``token`` (function): ``token(sub="u1", roles=("staff",), name=None, department=None,
  **issue_kwargs) -> str`` — the ``Authorization`` header *value* ``"Bearer <jwt>"``.
* ``auth_headers`` (function): the same arguments, returns ``{"Authorization": "Bearer <jwt>"}``.

:func:`lifespan_client` runs an app's lifespan (database engine, verifier, relay, ...) and gives
an ``httpx.AsyncClient`` talking to it in-process — ``httpx.ASGITransport`` alone runs no
lifespan, so ``request.state`` would be empty::

    async with lifespan_client(app) as client:
        response = await client.get("/readyz")

For key-set tests, :class:`ControlledIssuer` serves a :class:`DevIssuer` (rotate and withdraw its
keys) that counts requests, can be down or hold JWKS requests, and lets a test wait for a number
of requests; :class:`FakeClock` is the clock to pass to ``TokenVerifier(clock=...)`` and advance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from kommune.auth.dev_issuer import (
    DEV_ISSUER_PREFIX,
    PLATFORM_AUDIENCES,
    DevIssuer,
    dev_issuer_router,
)
from kommune.errors import install_problem_handlers
from kommune.settings import Environment

TEST_ISSUER_ORIGIN = "http://issuer.test"
TEST_ISSUER_URL = f"{TEST_ISSUER_ORIGIN}{DEV_ISSUER_PREFIX}"
TEST_APP_AUDIENCE = "kommune-test-app"
"""The audience for apps built only in tests (set ``oidc_audience`` to it)."""
TEST_AUDIENCES = (*PLATFORM_AUDIENCES, TEST_APP_AUDIENCE)
"""What the ``dev_issuer`` fixture's tokens carry in ``aud``."""


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
    """Settings values that make a service trust the test issuer: environment and issuer.

    Keys are field names; ``KOMMUNE_<KEY>`` is the variable of each (both are platform-wide).
    """
    return {"environment": str(Environment.TEST), "oidc_issuer": TEST_ISSUER_URL}


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
    return DevIssuer.from_key_file(key_file, TEST_ISSUER_URL, audiences=TEST_AUDIENCES)


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


WAIT_DEADLINE = 10.0
"""Seconds a test waits for a condition before it fails (a deadline, not a synchronisation)."""


class ControlledIssuer:
    """The dev issuer's HTTP app with switches, for key-set tests (an ASGI app).

    Counts discovery and JWKS requests, can answer 503 (``up = False``) or hold JWKS requests
    until released (``hold()``/``release()``; ``jwks_held`` is set while one waits), and wakes
    ``wait_for_jwks_requests`` waiters on every request: tests wait on these conditions, never
    on time. ``issuer`` is a real :class:`DevIssuer`: rotate and withdraw its keys.
    """

    def __init__(self, issuer: DevIssuer) -> None:
        self.issuer = issuer
        self.up = True
        self.discovery_requests = 0
        self.jwks_requests = 0
        self.jwks_held = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._requests_changed = asyncio.Event()
        self._app = issuer_app(issuer)

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds, re-checked on every request (fail after 10 s)."""
        async with asyncio.timeout(WAIT_DEADLINE):
            while not condition():
                self._requests_changed.clear()
                await self._requests_changed.wait()

    async def wait_for_jwks_requests(self, count: int) -> None:
        """Return once ``count`` JWKS requests arrived (fail after 10 s)."""
        await self.wait_until(lambda: self.jwks_requests >= count)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.endswith("/jwks.json"):
            self.jwks_requests += 1
            self._requests_changed.set()
            if not self._released.is_set():
                self.jwks_held.set()
                await self._released.wait()
        elif scope["type"] == "http" and path.endswith("/openid-configuration"):
            self.discovery_requests += 1
            self._requests_changed.set()
        if scope["type"] == "http" and not self.up:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        await self._app(scope, receive, send)

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose requests this issuer answers (close it, or use ``async with``)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self))


class FakeClock:
    """A monotonic clock that moves only when told (``clock.advance(seconds)``)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
