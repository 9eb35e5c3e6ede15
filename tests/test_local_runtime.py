"""`make up` / `make down` as a newcomer uses them: the services as real background processes.

The test drives ``deploy/local/services.sh`` (what ``make up`` and ``make down`` call after the
servers) against the PostgreSQL and Kafka this session already uses, so it never stops the
servers under other tests. It needs the default ports free: on a machine where ``make up`` is
running it is skipped rather than touching the developer's platform.

The second test is issue 13 as a user meets it: ``make up``, use the platform through the gateway
(post ideas with every demo title, edit and delete demo records), restart a service, then
``make down && make up`` — which must succeed with the demo data there exactly once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kommune.demo import demo_id
from kommune.testing.infra import local_endpoints, run_local_script
from kommune_ideas import demo

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "deploy" / "local" / "services.sh"
GATEWAY = "http://127.0.0.1:8000"
PORTS = {"gateway": 8000, "ideas": 8101, "documents": 8102, "egov": 8103, "sensors": 8104}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_in_repo(
    argv: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own scripts and Makefile, fixed arguments
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def services(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return run_in_repo(["bash", str(SERVICES), *args], env, timeout)


def make(
    target: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return run_in_repo(["make", "--no-print-directory", target], env, timeout)


def our_processes() -> list[str]:
    """Command lines of service processes started from this checkout."""
    found = subprocess.run(
        ["pgrep", "-af", "(uvicorn|kommune[.]serve) kommune_"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


@pytest.fixture
def runtime_env(postgres_admin_url: str, kafka_bootstrap_servers: str) -> Iterator[dict[str, str]]:
    busy = [name for name, port in PORTS.items() if port_open(port)]
    if busy:
        pytest.skip(f"ports of {busy} are in use (is `make up` running?); not touching them")
    env = dict(os.environ)
    env["DATABASE_URL"] = postgres_admin_url
    env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap_servers
    try:
        yield env
    finally:
        services("stop", env=env)


def test_services_start_ready_serve_and_stop_leaving_nothing(runtime_env: dict[str, str]) -> None:
    started = services("start", env=runtime_env)
    assert started.returncode == 0, started.stdout + started.stderr

    with httpx.Client(base_url=GATEWAY, timeout=10) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        token = client.post(
            "/auth/dev/token", json={"sub": "newcomer", "roles": ["staff"], "name": "Neu"}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        ideas = client.get("/api/v1/ideas", headers=headers)
        assert ideas.status_code == 200, ideas.text
        assert ideas.json()["items"], "make up loads demo ideas"
        # Every service runs behind the gateway, with its demo data where it has some.
        fileplan = client.get("/api/v1/fileplan", headers=headers)
        assert fileplan.status_code == 200, fileplan.text
        assert fileplan.json()["items"], "make up loads the demo file plan"
        catalogue = client.get("/api/v1/services")
        assert catalogue.status_code == 200, catalogue.text
        assert catalogue.json()["items"], "make up loads the service catalogue"
        sta = client.get("/sta/v1.1")
        assert sta.status_code == 200, sta.text

    again = services("start", env=runtime_env, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout

    stopped = services("stop", env=runtime_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not [name for name, port in PORTS.items() if port_open(port)]
    assert our_processes() == []


# ---- issue 13: `make up` keeps working after the platform has been used ------------------------


@pytest.fixture
def platform_env(postgres_admin_url: str, kafka_bootstrap_servers: str) -> Iterator[dict[str, str]]:
    """The environment of a developer's shell: no overrides, the project-local servers.

    ``make down`` stops the project-local PostgreSQL and Kafka, so this runs only when they are
    the ones this session uses (``make test``, ``.ci/run``); ``make up`` starts them again, and the
    session goes on with them. At the end only the services are stopped.
    """
    if (postgres_admin_url, kafka_bootstrap_servers) != local_endpoints():
        pytest.skip("this session's servers are not the project-local ones make down would stop")
    busy = [name for name, port in PORTS.items() if port_open(port)]
    if busy:
        pytest.skip(f"ports of {busy} are in use (is `make up` running?); not touching them")
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    try:
        yield env
    finally:
        services("stop", env=env)
        # The session's servers are up again whatever happened (make up may have failed).
        for name in ("postgres", "kafka"):
            run_local_script(name, "start")


class User:
    """Somebody using the platform through the gateway with a dev token."""

    def __init__(self, client: httpx.Client, sub: str, *roles: str) -> None:
        response = client.post("/auth/dev/token", json={"sub": sub, "roles": roles, "name": sub})
        assert response.status_code == 200, response.text
        self.sub = sub
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}


def every_idea(client: httpx.Client, user: User) -> list[dict[str, Any]]:
    ideas: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.get("/api/v1/ideas", params=params, headers=user.headers)
        assert page.status_code == 200, page.text
        ideas += page.json()["items"]
        if not page.json()["next_cursor"]:
            return ideas
        params["cursor"] = page.json()["next_cursor"]


@pytest.mark.timeout(900)  # two make up, a restart, a make down: minutes, not seconds
@pytest.mark.restarts_servers  # runs first in the session (tests/conftest.py)
def test_make_up_after_the_platform_was_used(platform_env: dict[str, str]) -> None:
    up = make("up", platform_env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    run = uuid.uuid4().hex[:6]
    edited = demo_id("ideas", "ideas", "bauakten")
    netiquette = demo_id("ideas", "faq_entries", "netiquette")
    new_title = "Bauakten digital führen"
    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        author = User(client, f"user-{run}-ca", "change_agent")
        admin = User(client, f"user-{run}-admin", "admin")
        lead = User(client, f"user-{run}-pl", "project_lead")
        departments = client.get("/api/v1/departments", headers=author.headers).json()["items"]
        for item in demo.IDEAS:  # every demo title, posted by somebody else
            posted = client.post(
                "/api/v1/ideas",
                json={
                    "title": item.title,
                    "problem_statement": "Das gleiche Problem, anders gesehen.",
                    "proposed_solution": "Eine andere Lösung für dasselbe.",
                    "added_value": "Ein anderer Nutzen.",
                    "description": "Von jemandem, der die Demo nicht kennt.",
                    "department_id": departments[0]["id"],
                },
                headers=author.headers,
            )
            assert posted.status_code == 201, posted.text
        patched = client.patch(
            f"/api/v1/ideas/{edited}", json={"title": new_title}, headers=admin.headers
        )
        assert patched.status_code == 200, patched.text
        deleted = client.delete(f"/api/v1/faq/{netiquette}", headers=lead.headers)
        assert deleted.status_code == 204, deleted.text

    restarted = services("restart", "ideas", env=platform_env)
    assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr[-3000:]
    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        lead = User(client, f"user-{run}-pl", "project_lead")
        faq = client.get(f"/api/v1/faq/{netiquette}", headers=lead.headers)
        assert faq.status_code == 200, "a deleted demo record comes back when demo data loads"
        assert client.delete(f"/api/v1/faq/{netiquette}", headers=lead.headers).status_code == 204

    down = make("down", platform_env)
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    up = make("up", platform_env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]

    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        admin = User(client, f"user-{run}-admin", "admin")
        ideas = every_idea(client, admin)
        demo_ids = {str(demo_id("ideas", "ideas", item.key)) for item in demo.IDEAS}
        assert demo_ids <= {idea["id"] for idea in ideas}
        for item in demo.IDEAS:
            demo_copies = [
                idea
                for idea in ideas
                if idea["title"] == item.title and not idea["author"]["id"].startswith("user-")
            ]
            expected = 0 if str(edited) == str(demo_id("ideas", "ideas", item.key)) else 1
            assert len(demo_copies) == expected, (item.title, demo_copies)
            ours = [
                i
                for i in ideas
                if i["title"] == item.title and i["author"]["id"] == f"user-{run}-ca"
            ]
            assert len(ours) == 1, item.title  # what users posted is kept as it was
        kept = client.get(f"/api/v1/ideas/{edited}", headers=admin.headers)
        assert kept.json()["title"] == new_title  # the user's edit of a demo record is kept
        faq = client.get(f"/api/v1/faq/{netiquette}", headers=admin.headers)
        assert faq.status_code == 200, faq.text
