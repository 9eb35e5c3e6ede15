"""Authorization before validation, on every route of every service (issue 6, item 7).

The routes are taken from each service's application (``services/*/src/kommune_*/main.py``,
``create_app``), not from a list written here, so a new service and a new route are covered the
day they exist. Every route that is not part of the shared runtime (health, metrics, docs) must
declare a permission (``Depends(requires(...))`` on a :class:`kommune.routing.GuardedRoute`) or be
declared public, and must answer, whatever the body (not even JSON), the query and the path:

* no token → 401, an invalid token → 401,
* a valid token without any role, or only with a role the platform does not know → 403,

before anything is validated or read from the database. A route authenticated by a client app's
API key instead (its requirement has ``authenticates = "api_key"``: Open311 ``POST requests``)
must answer 403 without a key, whatever the body and even with a bearer token.
"""

from __future__ import annotations

import importlib
import re
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, UnionType

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from kommune.app import create_service_app
from kommune.routing import GuardedRoute, is_public, requirements_of
from kommune.settings import ServiceSettings
from kommune.testing.auth import lifespan_client
from kommune.testing.infra import CreateDatabase
from kommune.testing.service import Personas, assert_problem, service_settings_values

ROOT = Path(__file__).resolve().parents[1]
SERVICE_MAINS = sorted(ROOT.glob("services/*/src/kommune_*/main.py"))
BAD_BODY = b'{"title": "x", not json'
BAD_QUERY = {"limit": "0", "cursor": "%00", "sort": "nonsense"}


def service_module(main: Path) -> ModuleType:
    return importlib.import_module(f"{main.parent.name}.main")


def settings_class(module: ModuleType) -> type[ServiceSettings]:
    """The settings class ``create_app(settings: XSettings | None = None, ...)`` takes."""
    hint = typing.get_type_hints(module.create_app)["settings"]
    candidates = typing.get_args(hint) if isinstance(hint, UnionType) else (hint,)
    [cls] = [c for c in candidates if isinstance(c, type) and issubclass(c, ServiceSettings)]
    return cls


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    route: APIRoute


def operations(app: FastAPI) -> list[Operation]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = context.path
            assert isinstance(path, str)
            found += [Operation(method, path, route) for method in sorted(context.methods or ())]
    return found


def runtime_paths(settings: ServiceSettings) -> set[tuple[str, str]]:
    """What every service serves without any router of its own (health, metrics, docs)."""
    bare = create_service_app(settings, title="runtime only")
    return {(op.method, op.path) for op in operations(bare)}


def authenticates_by_api_key(route: APIRoute) -> bool:
    """A route whose credential is a client app's API key, not a bearer token: its requirement
    says so (``authenticates = "api_key"``, e.g. ``kommune_egov.open311.api_keys``)."""
    return any(
        getattr(requirement, "authenticates", None) == "api_key"
        for requirement in requirements_of(route.dependant)
    )


def concrete(path: str) -> str:
    """Every path parameter filled with something that is not what the route expects."""
    return re.sub(r"\{[^}]+\}", "not-a-valid-id", path)


@pytest.fixture(scope="session", params=SERVICE_MAINS, ids=lambda main: main.parents[2].name)
def service(request: pytest.FixtureRequest) -> ModuleType:
    return service_module(request.param)


@pytest_asyncio.fixture(loop_scope="session")
async def running(
    service: ModuleType,
    create_database: CreateDatabase,
    kafka_bootstrap_servers: str,
    kafka_topic_prefix: str,
    issuer_transport: httpx.ASGITransport,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    url = await create_database("authz")  # empty: nothing may be read from it anyway
    values = service_settings_values(
        url, kafka_bootstrap_servers, kafka_topic_prefix, relay_enabled=False
    )
    values["consumers_enabled"] = False
    settings = settings_class(service).model_validate(values)
    app = service.create_app(settings, http_transport=issuer_transport)
    assert isinstance(app, FastAPI)
    app.state.runtime_paths = runtime_paths(settings)
    async with lifespan_client(app) as client:
        yield app, client


def test_every_service_is_found() -> None:
    assert SERVICE_MAINS, "no services/*/src/kommune_*/main.py found"
    assert "ideas" in {main.parents[2].name for main in SERVICE_MAINS}


async def test_every_route_authorises_before_it_validates(
    running: tuple[FastAPI, httpx.AsyncClient], people: Personas
) -> None:
    app, client = running
    outsider = people.make("outsider", ["superuser", "root"], "Unknown Roles")
    checked = 0
    failures: list[str] = []
    for op in operations(app):
        if (op.method, op.path) in app.state.runtime_paths:
            continue
        where = f"{op.method} {op.path}"
        if is_public(op.route.dependant):
            if op.method not in ("GET", "HEAD"):
                failures.append(f"{where}: public routes may only read")
            continue
        if not isinstance(op.route, GuardedRoute) or not requirements_of(op.route.dependant):
            failures.append(
                f"{where}: declare a permission (Depends(requires(...))) on a GuardedRoute "
                "(kommune.routing.service_router)"
            )
            continue
        checked += 1
        url = concrete(op.path)
        content_type = {"Content-Type": "application/json"}
        if authenticates_by_api_key(op.route):
            # Open311 POST requests: the credential is a client app's api_key (403 if missing, in
            # the spec's error format), checked before anything else; whether a key is known is
            # read from the service's key store, so wrong keys are tested in the service's suite.
            for label, headers in (
                ("no api_key", content_type),
                ("a bearer token instead", {**content_type, **people.admin.headers}),
            ):
                response = await client.request(
                    op.method, url, params=BAD_QUERY, content=BAD_BODY, headers=headers
                )
                if response.status_code != 403 or "api_key" not in response.text:
                    failures.append(f"{where} with {label}: {response.status_code} {response.text}")
            continue
        cases: list[tuple[str, dict[str, str], int]] = [
            ("no token", content_type, 401),
            ("an invalid token", {**content_type, "Authorization": "Bearer not.a.jwt"}, 401),
            ("a token without roles", {**content_type, **people.nobody.headers}, 403),
            ("unknown roles only", {**content_type, **outsider.headers}, 403),
        ]
        for label, headers, expected in cases:
            response = await client.request(
                op.method, url, params=BAD_QUERY, content=BAD_BODY, headers=headers
            )
            if response.status_code != expected:
                failures.append(f"{where} with {label}: {response.status_code} {response.text}")
                continue
            body = assert_problem(response, expected)
            assert "errors" not in body, f"{where}: validation ran before authorization"
    assert not failures, "\n".join(failures)
    assert checked > 0


async def test_the_walk_itself_finds_a_route_that_validates_first(
    running: tuple[FastAPI, httpx.AsyncClient], people: Personas
) -> None:
    """The check above can fail: the same requests with a permitted role reach validation."""
    app, client = running
    reached_validation = 0
    for op in operations(app):
        if (op.method, op.path) in app.state.runtime_paths or is_public(op.route.dependant):
            continue
        response = await client.request(
            op.method,
            concrete(op.path),
            params=BAD_QUERY,
            content=BAD_BODY,
            headers={"Content-Type": "application/json", **people.admin.headers},
        )
        reached_validation += response.status_code == 422
    assert reached_validation > 0
