"""SensorThings reads on 10 million observations: the API next to the same SQL run raw.

A fresh database gets the real migrations, one thing with D datastreams, and N observations
(default 10,000,000 over 100 datastreams, one a minute each, ~70 daily partitions) loaded with
raw asyncpg COPY into the partitioned table; each datastream's ``observation_count`` and latest
value are then set as the writer would have kept them. Then, alternating within each iteration so
that machine drift hits both sides alike:

(a) the sensors service's SensorThings API, in process (ASGI, token verification, unit of work,
    SQLAlchemy, JSON) with a staff token:
    * ``/sta/v1.1/Observations?$count=true&$top=1`` (the count of everything),
    * ``/sta/v1.1/Datastreams(id)/Observations?$count=true&$top=1`` (one datastream's),
    * ``/sta/v1.1/Datastreams?$top=100&$expand=Observations($top=1;$orderby=phenomenonTime desc)``
      (the latest observation of each datastream),
    * a deep page: ``/sta/v1.1/Observations?$top=100&$skiptoken=<id 99 % deep>`` (keyset);
(b) exactly the statements the service sent for that request (captured from SQLAlchemy, same
    parameters), run in sequence with a plain asyncpg connection: the baseline.

Printed also, a few runs each: the naive SQL that FROST-Server's users wait for (``count(*)``
over the table, over one datastream, ``DISTINCT ON`` for the latest rows, ``OFFSET`` for the deep
page). Figures are merged into ``bench/results.json``.

    uv run python bench/bench_sensors_queries.py [--observations 10000000] [--datastreams 100]
                                                 [--iterations 100]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` or the project-local PostgreSQL; no Kafka needed (the
service is built with its SensorThings router only).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import structlog
from results import merge, result
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.migrations import upgrade
from kommune.testing.auth import TEST_ISSUER_URL, issuer_app, lifespan_client
from kommune.testing.infra import local_endpoints
from kommune_sensors.ingestion.partitions import create_partitions
from kommune_sensors.settings import SensorsSettings
from kommune_sensors.sta.api import router as sta_router

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "sensors" / "alembic.ini"
CHUNK = 200_000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class SqlCapture:
    """Every statement the service sends while enabled (asyncpg form: ``$n`` and parameters)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []
        self.enabled = False
        event.listen(Engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if self.enabled and statement.lstrip().upper().startswith("SELECT") and "FROM" in statement:
            self.statements.append((statement, tuple(parameters or ())))


@dataclass
class Scenario:
    name: str
    path: str
    naive_sql: str
    naive_args: tuple[Any, ...] = ()
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)


async def load(conn: asyncpg.Connection, observations: int, datastreams: int) -> list[int]:
    """One thing, ``datastreams`` datastreams, ``observations`` rows by COPY; returns the ids."""
    thing = await conn.fetchval(
        "INSERT INTO things (name, description, properties, published, created_at) "
        "VALUES ('Bench', '', '{}', true, now()) RETURNING id"
    )
    sensor = await conn.fetchval(
        "INSERT INTO sensors (name, description, encoding_type, metadata) "
        "VALUES ('s', '', 'text/plain', '') RETURNING id"
    )
    prop = await conn.fetchval(
        "INSERT INTO observed_properties (name, definition, description) "
        "VALUES ('p', 'urn:bench', '') RETURNING id"
    )
    stream_ids = [
        await conn.fetchval(
            "INSERT INTO datastreams (name, description, kind, observation_type, "
            "unit_of_measurement, thing_id, sensor_id, observed_property_id, created_at, "
            "observation_count) VALUES ($1, '', 'count', 'OM_Measurement', "
            '\'{"name": "count"}\', $2, $3, $4, now(), 0) RETURNING id',
            f"ds{n}",
            thing,
            sensor,
            prop,
        )
        for n in range(datastreams)
    ]
    per_stream = -(-observations // datastreams)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(minutes=per_stream)
    days = {(start + timedelta(days=d)).date() for d in range((end - start).days + 2)}
    await create_partitions(conn, days)

    def rows() -> Iterator[tuple[int, datetime, int, float]]:
        n = 0
        for minute in range(per_stream):
            at = start + timedelta(minutes=minute)
            for stream_id in stream_ids:
                if n == observations:
                    return
                n += 1
                yield (stream_id, at, n, float(n % 50))

    started = time.perf_counter()
    source = rows()
    while True:
        chunk = [row for _, row in zip(range(CHUNK), source, strict=False)]
        if not chunk:
            break
        await conn.copy_records_to_table(
            "observations",
            records=chunk,
            columns=["datastream_id", "phenomenon_time", "id", "result"],
        )
    elapsed = time.perf_counter() - started
    print(
        f"  COPY of {observations:,} rows: {elapsed:.1f} s ({observations / elapsed:,.0f} rows/s)"
    )
    await conn.execute(f"SELECT setval('observation_ids', {observations})")
    # What the writer keeps in the same statement as the rows (count, latest value).
    await conn.execute(
        "UPDATE datastreams d SET observation_count = s.n, latest_phenomenon_time = s.t, "
        "latest_result = s.r FROM (SELECT DISTINCT ON (datastream_id) datastream_id, "
        "phenomenon_time AS t, result AS r, count(*) OVER (PARTITION BY datastream_id) AS n "
        "FROM observations ORDER BY datastream_id, phenomenon_time DESC) s "
        "WHERE d.id = s.datastream_id"
    )
    await conn.execute("ANALYZE")
    return stream_ids


async def timed_raw(
    conn: asyncpg.Connection, statements: list[tuple[str, tuple[Any, ...]]]
) -> float:
    started = time.perf_counter()
    for statement, parameters in statements:
        await conn.fetch(statement, *parameters)
    return (time.perf_counter() - started) * 1000


async def measure(
    url: str, stream_ids: list[int], observations: int, args: argparse.Namespace
) -> list[Scenario]:
    issuer = DevIssuer.generate(TEST_ISSUER_URL)
    settings = SensorsSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
            "database_url": url,
            "relay_enabled": False,
        }
    )
    app = create_service_app(
        settings,
        title="sensors (bench)",
        routers=(sta_router,),
        http_transport=httpx.ASGITransport(app=issuer_app(issuer)),
    )
    headers = {"Authorization": "Bearer " + issuer.issue("st-bench", ["staff"], "Bench")}
    one = stream_ids[len(stream_ids) // 2]
    deep = int(observations * 0.99)
    top = len(stream_ids)
    scenarios = [
        Scenario(
            "count_all_observations",
            "/sta/v1.1/Observations?$count=true&$top=1",
            "SELECT count(*) FROM observations",
        ),
        Scenario(
            "count_datastream_observations",
            f"/sta/v1.1/Datastreams({one})/Observations?$count=true&$top=1",
            "SELECT count(*) FROM observations WHERE datastream_id = $1",
            (one,),
        ),
        Scenario(
            "latest_observation_each_datastream",
            f"/sta/v1.1/Datastreams?$top={top}"
            "&$expand=Observations($top=1;$orderby=phenomenonTime desc)",
            "SELECT DISTINCT ON (datastream_id) * FROM observations "
            "ORDER BY datastream_id, phenomenon_time DESC",
        ),
        Scenario(
            "deep_page_observations",
            f"/sta/v1.1/Observations?$top=100&$skiptoken={deep}",
            "SELECT * FROM observations ORDER BY id OFFSET $1 LIMIT 100",
            (deep,),
        ),
    ]
    capture = SqlCapture()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = await asyncpg.connect(dsn)
    try:
        async with lifespan_client(app) as client:
            for scenario in scenarios:
                capture.statements, capture.enabled = [], True
                response = await client.get(scenario.path, headers=headers)
                capture.enabled = False
                assert response.status_code == 200, response.text
                scenario.statements = list(capture.statements)
                body = response.json()
                if "@iot.count" in body:
                    print(f"  {scenario.name}: @iot.count = {body['@iot.count']:,}")
                if scenario.name.startswith("latest"):
                    assert len(body["value"]) == len(stream_ids)
                    assert all(len(item["Observations"]) == 1 for item in body["value"])
            for _ in range(args.warmup):
                for scenario in scenarios:
                    await client.get(scenario.path, headers=headers)
                    await timed_raw(raw, scenario.statements)
            for _ in range(args.iterations):
                for scenario in scenarios:
                    started = time.perf_counter()
                    response = await client.get(scenario.path, headers=headers)
                    scenario.api.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                    scenario.raw.append(await timed_raw(raw, scenario.statements))
        for scenario in scenarios:
            for _ in range(args.naive_runs):
                started = time.perf_counter()
                await raw.fetch(scenario.naive_sql, *scenario.naive_args)
                scenario.naive.append((time.perf_counter() - started) * 1000)
    finally:
        await raw.close()
    return scenarios


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--datastreams", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--naive-runs", type=int, default=3, help="runs of each naive query")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    local_database, _ = local_endpoints()
    admin_url = make_url(os.environ.get("KOMMUNE_TEST_DATABASE_URL", local_database))
    admin_dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    database = f"bench_sensors_q_{uuid.uuid4().hex[:10]}"
    url = admin_url.set(drivername="postgresql+asyncpg", database=database).render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        await upgrade(ALEMBIC_INI, url)
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            print(f"{args.observations:,} observations over {args.datastreams} datastreams")
            stream_ids = await load(conn, args.observations, args.datastreams)
        finally:
            await conn.close()
        scenarios = await measure(url, stream_ids, args.observations, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    records = []
    for s in scenarios:
        api50, api95 = statistics.median(s.api), percentile(s.api, 0.95)
        raw50, raw95 = statistics.median(s.raw), percentile(s.raw, 0.95)
        naive50 = statistics.median(s.naive)
        print(
            f"{s.name:36} API p50 {api50:7.2f} ms p95 {api95:7.2f} | same SQL raw p50 "
            f"{raw50:6.2f} ms p95 {raw95:6.2f} ({len(s.statements)} statements) | ratio "
            f"{api50 / raw50:5.1f} | naive SQL p50 {naive50:9.1f} ms"
        )
        notes = (
            f"{args.observations} observations, {args.datastreams} datastreams; "
            f"GET {s.path} in process with a staff token, {args.iterations} iterations; baseline: "
            f"the {len(s.statements)} statement(s) the service sent, raw asyncpg; p95 API "
            f"{api95:.2f} ms, raw {raw95:.2f} ms; naive SQL ({s.naive_sql[:60]}...) p50 "
            f"{naive50:.1f} ms"
        )
        records.append(
            result(
                f"sensors_sta_{s.name}_p50",
                api50,
                "ms",
                baseline_name="same_sql_raw_asyncpg_p50",
                baseline_value=raw50,
                notes=notes,
            )
        )
    merge(records)


if __name__ == "__main__":
    asyncio.run(main())
