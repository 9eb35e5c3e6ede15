"""Schemathesis against the gateway's merged OpenAPI: every operation, all default checks.

The platform of the e2e tests (gateway + ideas under uvicorn, real PostgreSQL and Kafka) is
fuzzed once per role, each run with its own bearer token from the gateway's dev issuer and a
fixed seed. Every check schemathesis has (server errors, status codes, content types, response
schemas and headers, positive and negative data, auth, undeclared methods, Allow headers...)
must pass: zero failures, not only zero 500s.

``make test`` runs the example and fuzzing phases for 30 s per role (215 to 360 requests each,
every operation, under 3 minutes for the five roles); ``make fuzz`` runs ten times as long and adds
the coverage phase (every boundary value and undeclared method the schema implies) and the
stateful phase. Environment: ``KOMMUNE_FUZZ_EXAMPLES``, ``KOMMUNE_FUZZ_PHASES``,
``KOMMUNE_FUZZ_MAX_SECONDS``, ``KOMMUNE_FUZZ_SEED``. ``tests/e2e/schemathesis.toml`` holds the
two documented exceptions (opaque cursors; 422 for a body naming a resource that does not exist).

Figures (2026-11-29, this 2-core machine): ``make test``'s configuration, 0 failures (citizen
260 requests, staff 261, change_agent 263, project_lead 215, admin 359; 2 min 50 s); longer
runs of examples + fuzzing, 180 s per role: 4,037 requests (citizen), 3,287 (project_lead), 4,253
(admin), 0 failures. Open finding of the stateful phase (``make fuzz`` only): schemathesis fills
a path id from a nullable response field (``/ideas/None/...``) for project_lead and admin.

The CLI runs as a subprocess so this test's event loop keeps serving the platform meanwhile;
the requests are counted where they arrive (the process-wide Prometheus counter, labelled by
service), and printed with the result.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from kommune.telemetry.metrics import HTTP_REQUESTS

from .conftest import Platform

CONFIG = Path(__file__).with_name("schemathesis.toml")
ROLES = ("citizen", "staff", "change_agent", "project_lead", "admin")
EXAMPLES = int(os.environ.get("KOMMUNE_FUZZ_EXAMPLES", "5"))
MAX_SECONDS = int(os.environ.get("KOMMUNE_FUZZ_MAX_SECONDS", "30"))
PHASES = os.environ.get("KOMMUNE_FUZZ_PHASES", "examples,fuzzing")
SEED = int(os.environ.get("KOMMUNE_FUZZ_SEED", "20261129"))
TIMEOUT = MAX_SECONDS + 60.0


def handled_requests(service: str) -> int:
    """Requests the service has answered in this process so far (any status)."""
    total = 0.0
    for metric in HTTP_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("service") == service:
                total += sample.value
    return int(total)


async def _run_schemathesis(platform: Platform, role: str) -> tuple[int, str]:
    headers = await platform.token(f"fuzz-{role}", [role], f"Fuzz {role}")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{platform.gateway_url}/openapi.json",
        "--header",
        f"Authorization:{headers['Authorization']}",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--phases",
        PHASES,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--warnings",
        "off",
        # The dev issuer hands out tokens to anyone by design (dev/test only), but the merged
        # document marks it as needing a token: a gateway finding, reported, not fuzzed here.
        "--exclude-path",
        "/auth/dev/token",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("role", ROLES)
async def test_schemathesis_finds_nothing(platform: Platform, role: str) -> None:
    before = handled_requests("gateway"), handled_requests("ideas")
    code, output = await _run_schemathesis(platform, role)
    gateway = handled_requests("gateway") - before[0]
    ideas = handled_requests("ideas") - before[1]
    summary = "\n".join(output.splitlines()[-40:])
    print(f"\nschemathesis[{role}]: exit {code}, {gateway} requests (ideas: {ideas})\n{summary}")
    assert gateway > 0
    assert code == 0, output
