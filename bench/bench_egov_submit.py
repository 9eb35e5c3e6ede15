"""Application submissions through the egov API and its outbox, next to raw asyncpg inserts.

A fresh database gets the real migrations and the catalogue. Then, in alternating rounds (so
that drift on a shared machine hits both sides alike), with the same concurrency:

(a) ``POST /api/v1/applications`` (a Hundeanmeldung) through the egov app in-process: ASGI,
    token verification, pydantic, JSON Schema validation of the form, the unit of work writing
    the application, its history entry, the mailbox message, the ``submitted`` event into the
    outbox (and the webhook lookup), commit. Each submit carries its own ``Idempotency-Key``.
(b) the baseline: the same rows (application, history, mailbox message, outbox row with the
    same payload and ``ce_*`` headers, idempotency key) inserted by a plain asyncpg pool, one
    transaction per submission, prepared statements.

Printed and merged into ``bench/results.json``: submissions/s (median of the rounds) and the
p50/p99 latency of one submission, for both. The relay that publishes the outbox rows to Kafka
is measured on its own by ``bench_outbox_relay.py``; here it is off (Kafka is not needed).

    uv run python bench/bench_egov_submit.py [--submissions 1000] [--concurrency 8] [--rounds 3]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` or the local PostgreSQL (``deploy/local/postgres.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import structlog
from results import merge, result
from sqlalchemy.engine import make_url

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.events.outbox import DomainEvent, cloudevent_headers
from kommune.migrations import upgrade
from kommune.testing.auth import TEST_ISSUER_URL, issuer_app, lifespan_client
from kommune.testing.infra import local_endpoints
from kommune_egov.examples import dog_registration
from kommune_egov.lifecycle import egov_lifespan
from kommune_egov.main import ROUTERS
from kommune_egov.settings import EgovSettings

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "egov" / "alembic.ini"
CITIZENS = 50

DOG = dog_registration()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed_all(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``one(i)`` for i < count with ``concurrency`` workers: (submissions/s, latencies ms)."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            await one(index)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started), latencies


# ---- (b) the raw baseline --------------------------------------------------------------------

INSERT_KEY = """INSERT INTO idempotency_keys (caller, key, request_hash, application_id, created_at)
VALUES ($1, $2, $3, $4, $5)"""
INSERT_APPLICATION = """INSERT INTO applications (id, reference, service_id, service_code,
service_name, kind, department, form_version, data, status, origin, applicant_sub, applicant_name,
contact_email, client_app, latitude, longitude, address, submitted_at, updated_at)
VALUES ($1, $2, $3, 'dog_registration', 'Hundeanmeldung', 'application', 'buergeramt', 1, $4,
'submitted', 'citizen', $5, 'Bench Citizen', NULL, NULL, NULL, NULL, NULL, $6, $6)"""
INSERT_HISTORY = """INSERT INTO application_history (id, application_id, position, from_status,
to_status, actor, actor_sub, note, at) VALUES ($1, $2, 1, NULL, 'submitted', 'applicant', $3,
NULL, $4)"""
INSERT_MESSAGE = """INSERT INTO mailbox_messages (id, recipient_sub, application_id, kind,
subject, body, attachment_id, created_at) VALUES ($1, $2, $3, 'submitted', $4, $5, NULL, $6)"""
INSERT_OUTBOX = """INSERT INTO outbox (id, aggregatetype, aggregateid, type, topic, payload,
headers) VALUES ($1, 'application', $2, 'de.kommune.egov.application.submitted.v1',
'egov.application.v1', $3, $4)"""


async def raw_submit(pool: Any, service_id: uuid.UUID, index: int, run: str) -> None:
    application_id = uuid.uuid4()
    now = datetime.now(UTC)
    citizen = f"bench-raw-{index % CITIZENS}"
    reference = f"RAW-{run}-{index:06d}"
    payload = {
        "application_id": str(application_id),
        "reference": reference,
        "service_code": "dog_registration",
        "service_name": "Hundeanmeldung",
        "department": "buergeramt",
        "submitted_at": now.isoformat(),
    }
    event = DomainEvent(
        topic="egov.application.v1",
        type="de.kommune.egov.application.submitted.v1",
        aggregate_type="application",
        aggregate_id=str(application_id),
        data=payload,
        subject=str(application_id),
    )
    headers = cloudevent_headers(event, "/kommune/egov")
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            INSERT_KEY, citizen, f"{run}-{index}", "0" * 64, application_id, now
        )
        await connection.execute(
            INSERT_APPLICATION, application_id, reference, service_id, json.dumps(DOG), citizen, now
        )
        await connection.execute(INSERT_HISTORY, uuid.uuid4(), application_id, citizen, now)
        await connection.execute(
            INSERT_MESSAGE,
            uuid.uuid4(),
            citizen,
            application_id,
            f"Eingangsbestätigung: Hundeanmeldung ({reference})",
            f"Ihr Antrag „Hundeanmeldung“ ist bei uns eingegangen. Ihr Aktenzeichen: {reference}.",
            now,
        )
        await connection.execute(
            INSERT_OUTBOX, event.id, str(application_id), json.dumps(payload), json.dumps(headers)
        )


# ---- the run ---------------------------------------------------------------------------------


async def create_database(admin_url: str) -> str:
    name = f"bench_egov_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, url: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    issuer = DevIssuer.generate(TEST_ISSUER_URL)
    settings = EgovSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
            "database_url": make_url(url)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(False),
            "database_pool_size": args.concurrency,
            "relay_enabled": False,
            "consumers_enabled": False,
            "webhook_dispatch_enabled": False,
        }
    )
    app = create_service_app(
        settings,
        title="egov (bench)",
        routers=ROUTERS,
        http_transport=httpx.ASGITransport(app=issuer_app(issuer)),
        lifespan=egov_lifespan(settings),
    )
    tokens = [
        {"Authorization": "Bearer " + issuer.issue(f"bench-cit-{n}", ["citizen"], "Bench")}
        for n in range(CITIZENS)
    ]
    pool = await asyncpg.create_pool(url, min_size=args.concurrency, max_size=args.concurrency)
    api_rates: list[float] = []
    raw_rates: list[float] = []
    api_latencies: list[float] = []
    raw_latencies: list[float] = []
    try:
        async with lifespan_client(app) as client:
            service_id = await pool.fetchval(
                "SELECT id FROM services WHERE code = 'dog_registration'"
            )

            async def api_submit(index: int, run: str) -> None:
                response = await client.post(
                    "/api/v1/applications",
                    json={"service_code": "dog_registration", "data": DOG},
                    headers={**tokens[index % CITIZENS], "Idempotency-Key": f"{run}-{index}"},
                )
                if response.status_code != 201:
                    raise RuntimeError(f"submit: {response.status_code} {response.text}")

            async def api_run(index: int, run: str) -> None:
                await api_submit(index, run)

            async def raw_run(index: int, run: str) -> None:
                await raw_submit(pool, service_id, index, run)

            # Warm-up (connections, prepared statements, validators), not counted.
            await timed_all(50, args.concurrency, partial(api_run, run="warm"))
            await timed_all(50, args.concurrency, partial(raw_run, run="warm"))
            for round_ in range(1, args.rounds + 1):
                run = f"r{round_}"
                rate, samples = await timed_all(
                    args.submissions, args.concurrency, partial(api_run, run=run)
                )
                api_rates.append(rate)
                api_latencies += samples
                rate, samples = await timed_all(
                    args.submissions, args.concurrency, partial(raw_run, run=run)
                )
                raw_rates.append(rate)
                raw_latencies += samples
                print(
                    f"round {round_}: api {api_rates[-1]:7,.0f} submissions/s   "
                    f"raw asyncpg {raw_rates[-1]:7,.0f} submissions/s"
                )
            outbox_rows = await pool.fetchval(
                "SELECT count(*) FROM outbox"
                " WHERE type = 'de.kommune.egov.application.submitted.v1'"
            )
    finally:
        await pool.close()
    expected = 2 * (50 + args.submissions * args.rounds)
    if outbox_rows != expected:
        raise RuntimeError(f"outbox rows {outbox_rows} != submissions {expected}")
    return {
        "api_rate": statistics.median(api_rates),
        "raw_rate": statistics.median(raw_rates),
        "api_p50": percentile(api_latencies, 0.50),
        "api_p99": percentile(api_latencies, 0.99),
        "raw_p50": percentile(raw_latencies, 0.50),
        "raw_p99": percentile(raw_latencies, 0.99),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1000, help="per round and side")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    local_database, _ = local_endpoints()
    admin_url = make_url(os.environ.get("KOMMUNE_TEST_DATABASE_URL", local_database))
    admin = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    url = await create_database(admin)
    try:
        await upgrade(ALEMBIC_INI, url)
        figures = await measure(url, args)
    finally:
        if not args.keep:
            await drop_database(admin, url)
    print(f"{args.submissions} submissions x {args.rounds} rounds, concurrency {args.concurrency}")
    print(
        f"egov API + outbox: {figures['api_rate']:7,.0f} submissions/s (median), "
        f"p50 {figures['api_p50']:.1f} ms, p99 {figures['api_p99']:.1f} ms"
    )
    print(
        f"raw asyncpg rows:  {figures['raw_rate']:7,.0f} submissions/s (median), "
        f"p50 {figures['raw_p50']:.1f} ms, p99 {figures['raw_p99']:.1f} ms"
    )
    print(f"ratio api/raw: {figures['api_rate'] / figures['raw_rate']:.2f}")
    notes = (
        f"median of {args.rounds} alternating rounds of {args.submissions} Hundeanmeldungen, "
        f"concurrency {args.concurrency}; API in-process (ASGI, token, JSON Schema, unit of "
        "work: application + history + mailbox + outbox + idempotency key); baseline: the same "
        "rows by asyncpg, one transaction each"
    )
    merge(
        [
            result(
                "egov_submit_throughput",
                figures["api_rate"],
                "submissions/s",
                baseline_name="asyncpg_insert_same_rows_throughput",
                baseline_value=figures["raw_rate"],
                notes=notes,
            ),
            result(
                "egov_submit_p99",
                figures["api_p99"],
                "ms",
                baseline_name="asyncpg_insert_same_rows_p99",
                baseline_value=figures["raw_p99"],
                notes=notes,
            ),
        ]
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
