"""`make up` / `make down` as a newcomer uses them: the services as real background processes.

The test drives ``deploy/local/services.sh`` (what ``make up`` and ``make down`` call after the
servers) against the PostgreSQL and Kafka this session already uses, so it never stops the
servers under other tests. It needs the default ports free: on a machine where ``make up`` is
running it is skipped rather than touching the developer's platform.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "deploy" / "local" / "services.sh"
GATEWAY = "http://127.0.0.1:8000"
PORTS = {"gateway": 8000, "ideas": 8101}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def services(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["bash", str(SERVICES), *args],  # noqa: S607
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
        # A service that is not deployed yet answers a clear 503 through the gateway.
        documents = client.get("/api/v1/documents/files", headers=headers)
        assert documents.status_code == 503, documents.text

    again = services("start", env=runtime_env, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout

    stopped = services("stop", env=runtime_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not [name for name, port in PORTS.items() if port_open(port)]
    assert our_processes() == []
