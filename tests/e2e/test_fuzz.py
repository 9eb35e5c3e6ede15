"""Schemathesis against the gateway's merged OpenAPI: every operation, all default checks.

The platform of the e2e tests (gateway + ideas under uvicorn, real PostgreSQL and Kafka) is
fuzzed once per role, each run with its own bearer token from the gateway's dev issuer, a fixed
seed and a bounded number of examples per operation. Every check schemathesis has (server
errors, status codes, content types, response schemas and headers, positive and negative data,
auth...) must pass. ``make fuzz`` runs ten times as many examples
(``KOMMUNE_FUZZ_EXAMPLES``).

Opt-in for now (``KOMMUNE_FUZZ=1``, ``make fuzz``): the first run (staff, 5 examples, 150 s:
1,938 generated cases) found 27 failures and no 5xx: schema-valid tags refused (Latin-extended
letters whose NFKC folding leaves the Latin set), Allow header mismatches on 405, one operation
accepting a request without auth and a missing required header accepted. Once those are fixed,
drop the skip so ``make test`` runs it.

The CLI runs as a subprocess so this test's event loop keeps serving the platform meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from .conftest import Platform

ROLES = ("citizen", "staff", "change_agent", "project_lead", "admin")
EXAMPLES = int(os.environ.get("KOMMUNE_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("KOMMUNE_FUZZ_SEED", "20261129"))
MAX_SECONDS = int(os.environ.get("KOMMUNE_FUZZ_MAX_SECONDS", "150"))
TIMEOUT = MAX_SECONDS + 60.0
ENABLED = os.environ.get("KOMMUNE_FUZZ") == "1"


async def _run_schemathesis(platform: Platform, role: str) -> tuple[int, str]:
    headers = await platform.token(f"fuzz-{role}", [role], f"Fuzz {role}")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{platform.gateway_url}/openapi.json",
        "--header",
        f"Authorization:{headers['Authorization']}",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--generation-deterministic",
        "--request-timeout",
        "10",
        "--max-time",
        str(MAX_SECONDS),
        "--warnings",
        "off",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT)
    text = output.decode(errors="replace")
    assert process.returncode is not None
    return process.returncode, text


@pytest.mark.slow
@pytest.mark.skipif(not ENABLED, reason="fuzzing runs with KOMMUNE_FUZZ=1 (make fuzz)")
@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("role", ROLES)
async def test_schemathesis_finds_nothing(platform: Platform, role: str) -> None:
    code, output = await _run_schemathesis(platform, role)
    summary = "\n".join(output.splitlines()[-60:])
    print(f"schemathesis[{role}]: exit {code}\n{summary}")
    assert code == 0, summary
