"""Idea store latency: list and search through the ideas API next to the same SQL run raw.

A fresh database gets the real migrations and 10,000 ideas with 50,000 comments (asyncpg COPY;
the generated search columns and every index are maintained by PostgreSQL as in production).
Then, alternating within each iteration so that machine drift hits both sides alike:

(a) the ideas service's HTTP API, in-process (ASGI, token verification, unit of work, ORM,
    pydantic, JSON): ``GET /api/v1/ideas`` first page and a deep cursor page (item ~8,000),
    sorted ``newest`` and ``most_endorsed``; ``GET /api/v1/ideas?q=...`` for a stem
    (``Rechnung``, also matched inside compound words) and a rarer compound part (``bauakte``);
(b) exactly the SQL the service sent for that request (captured from SQLAlchemy, same
    parameters), run with a plain asyncpg connection: the baseline.

p50/p95 latencies of both are printed, with EXPLAIN (ANALYZE) evidence that the indexes are used,
and merged into ``bench/results.json`` via ``bench/results.py``. Also printed, to read the gap
between (a) and (b): the database round trips one API request makes (counted at the asyncpg
driver: BEGIN, statements, COMMIT, pings, prepares), and the floor of the in-process HTTP path, a
minimal FastAPI endpoint (no middleware, token or database) behind the same ASGI transport.

    uv run python bench/bench_ideas_queries.py [--ideas 10000] [--comments 50000] [--iterations 200]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` or the local PostgreSQL (``deploy/local/postgres.sh``).
Kafka is not needed: the service is built without its topics, relay and consumers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import structlog
from asyncpg.prepared_stmt import PreparedStatement  # type: ignore[import-untyped]
from fastapi import FastAPI
from pydantic import BaseModel
from results import merge, result
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from kommune.app import create_service_app
from kommune.auth.dev_issuer import DevIssuer
from kommune.migrations import upgrade
from kommune.testing.auth import TEST_ISSUER_URL, issuer_app, lifespan_client
from kommune_ideas.main import ROUTERS
from kommune_ideas.settings import IdeasSettings

DEFAULT_DATABASE_URL = "postgresql://kommune:kommune@127.0.0.1:15432/postgres"
ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "ideas" / "alembic.ini"

# ---- synthetic but plausible German ideas ------------------------------------------------------

DEPARTMENTS = ["Hauptamt", "Kämmerei", "Bürgeramt", "Bauverwaltung", "Digitalisierung"]
SUBJECTS = [
    "Urlaubsanträge",
    "Reisekostenabrechnungen",
    "Bauakten",
    "Sitzungsunterlagen",
    "Formulare",
    "Dienstpläne",
    "Fundsachen",
    "Gewerbeanmeldungen",
    "Parkausweise",
    "Hundesteuerbescheide",
    "Baugenehmigungen",
    "Telefonnotizen",
    "Postmappen",
    "Schulungsunterlagen",
    "Fahrzeugbuchungen",
]
RARE = ["Eingangsrechnungsworkflow", "Rechnungen", "Rechnungseingang", "Bauakte", "Bauaktenarchiv"]
VERBS = ["digitalisieren", "vereinfachen", "beschleunigen", "zentral ablegen", "online anbieten"]
FILLER = [
    "Die",
    "Kolleginnen",
    "und",
    "Kollegen",
    "verlieren",
    "viel",
    "Zeit",
    "mit",
    "Papier,",
    "Hauspost",
    "und",
    "Rückfragen.",
    "Mit",
    "dem",
    "Dokumentenmanagementsystem",
    "enaio",
    "lassen",
    "sich",
    "Vorgänge",
    "elektronisch",
    "bearbeiten,",
    "Fristen",
    "überwachen",
    "und",
    "Akten",
    "nach",
    "Aktenplan",
    "ablegen.",
    "Bürgerinnen",
    "und",
    "Bürger",
    "profitieren",
    "von",
    "kürzeren",
    "Bearbeitungszeiten",
    "und",
    "transparenten",
    "Abläufen",
    "im",
    "Rathaus.",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words)).capitalize() + "."


@dataclass
class Dataset:
    department_ids: list[uuid.UUID]
    ideas: list[tuple[Any, ...]]
    comments: list[tuple[Any, ...]]
    rare_share: float = field(default=0.0)


def generate(n_ideas: int, n_comments: int, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    departments = [uuid.uuid4() for _ in DEPARTMENTS]
    ideas: list[dict[str, Any]] = []
    rare = 0
    for i in range(n_ideas):
        subject = rng.choice(SUBJECTS)
        extra = ""
        if rng.random() < 0.04:  # ~4 % mention invoices or building files
            extra = f" {rng.choice(RARE)}"
            rare += 1
        created = now - timedelta(minutes=rng.randint(0, 3 * 365 * 24 * 60))
        ideas.append(
            {
                "id": uuid.uuid4(),
                "title": f"{subject} {rng.choice(VERBS)}{extra}"[:200],
                "problem_statement": sentence(rng, 40),
                "proposed_solution": sentence(rng, 40) + extra,
                "added_value": sentence(rng, 25),
                "description": sentence(rng, 80),
                "tags": [subject.lower()[:40], rng.choice(["enaio", "e-akte", "formulare"])],
                "status": rng.choice(
                    ["idea", "in_progress", "implemented", "rejected", "for_decision"]
                ),
                "author_id": f"ca-{rng.randint(1, 60)}",
                "author_name": f"Change Agent {i % 60}",
                "department_id": rng.choice(departments),
                "endorsement_count": int(rng.paretovariate(1.5)) - 1,
                "created_at": created,
                "last_activity_at": created + timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                "ca_count": 0,
                "lead_count": 0,
                "ca_at": None,
                "lead_at": None,
            }
        )
    comments: list[tuple[Any, ...]] = []
    tops: dict[tuple[int, str], list[uuid.UUID]] = {}
    for _ in range(n_comments):
        index = rng.randrange(n_ideas)
        idea = ideas[index]
        forum = "leaders" if rng.random() < 0.2 else "change_agents"
        created = idea["created_at"] + timedelta(minutes=rng.randint(1, 60 * 24 * 60))
        parents = tops.setdefault((index, forum), [])
        parent = rng.choice(parents) if parents and rng.random() < 0.3 else None
        comment_id = uuid.uuid4()
        if parent is None:
            parents.append(comment_id)
        comments.append(
            (
                comment_id,
                idea["id"],
                forum,
                parent,
                f"ca-{rng.randint(1, 60)}",
                None,
                sentence(rng, 20),
                created,
            )
        )
        key = "ca" if forum == "change_agents" else "lead"
        idea[f"{key}_count"] += 1
        if idea[f"{key}_at"] is None or idea[f"{key}_at"] < created:
            idea[f"{key}_at"] = created
    # Parents must be inserted before their replies (foreign key): top-level comments first.
    comments.sort(key=lambda row: row[3] is not None)
    rows = [
        (
            i["id"],
            i["title"],
            i["problem_statement"],
            i["proposed_solution"],
            i["added_value"],
            i["description"],
            i["tags"],
            i["status"],
            "Antwort der Teilprojektleitung.",
            None,
            i["author_id"],
            i["author_name"],
            i["department_id"],
            max(0, i["endorsement_count"]),
            i["ca_count"],
            i["lead_count"],
            i["created_at"],
            i["last_activity_at"],
            i["created_at"],
            i["last_activity_at"],
            i["ca_at"],
            i["lead_at"],
        )
        for i in ideas
    ]
    return Dataset(departments, rows, comments, rare / max(1, n_ideas))


IDEA_COLUMNS = (
    "id",
    "title",
    "problem_statement",
    "proposed_solution",
    "added_value",
    "description",
    "tags",
    "status",
    "answer",
    "rejection_reason",
    "author_id",
    "author_name",
    "department_id",
    "endorsement_count",
    "change_agent_comment_count",
    "leaders_comment_count",
    "created_at",
    "updated_at",
    "status_changed_at",
    "last_activity_at",
    "change_agent_activity_at",
    "leaders_activity_at",
)
COMMENT_COLUMNS = (
    "id",
    "idea_id",
    "forum",
    "parent_id",
    "author_id",
    "author_name",
    "body",
    "created_at",
)


async def create_database(admin_url: str) -> str:
    name = f"bench_ideas_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def seed(dsn: str, data: Dataset) -> float:
    connection = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        await connection.copy_records_to_table(
            "departments",
            records=[
                (dep_id, f"dep{n}", name, datetime.now(UTC))
                for n, (dep_id, name) in enumerate(
                    zip(data.department_ids, DEPARTMENTS, strict=True)
                )
            ],
            columns=("id", "code", "name", "created_at"),
        )
        await connection.copy_records_to_table("ideas", records=data.ideas, columns=IDEA_COLUMNS)
        await connection.copy_records_to_table(
            "comments", records=data.comments, columns=COMMENT_COLUMNS
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


# ---- measuring -------------------------------------------------------------------------------


class SqlCapture:
    """The last statement the service sent that reads ``ideas`` (asyncpg form: $n, params)."""

    def __init__(self) -> None:
        self.statement: str | None = None
        self.parameters: tuple[Any, ...] = ()
        self.enabled = False
        event.listen(Engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if self.enabled and "FROM ideas" in statement:
            self.statement = statement
            self.parameters = tuple(parameters or ())


class RoundTrips:
    """Counts, while entered, what the service sends to PostgreSQL, at the asyncpg driver.

    Each counted call is one round trip: ``Connection.execute`` without arguments is a simple
    query (``BEGIN``, ``COMMIT``, ``ROLLBACK``), ``fetchrow(";")`` is SQLAlchemy's ping,
    ``prepare`` parses a statement not yet cached on that connection, ``PreparedStatement.fetch``
    binds and executes one. The wrappers are installed only around the request being counted.
    """

    _WRAPPED = (
        (asyncpg.Connection, "execute"),
        (asyncpg.Connection, "fetchrow"),
        (asyncpg.Connection, "prepare"),
        (PreparedStatement, "fetch"),
    )

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._originals: list[tuple[type, str, Any]] = []

    def __enter__(self) -> RoundTrips:
        self.counts = {}
        for owner, name in self._WRAPPED:
            original = getattr(owner, name)
            self._originals.append((owner, name, original))
            setattr(owner, name, self._counting(original, name))
        return self

    def __exit__(self, *_: object) -> None:
        for owner, name, original in self._originals:
            setattr(owner, name, original)
        self._originals.clear()

    def _counting(self, original: Any, name: str) -> Any:
        async def wrapper(target: Any, *args: Any, **kwargs: Any) -> Any:
            query = args[0].strip().rstrip(";").upper() if args and isinstance(args[0], str) else ""
            if name == "execute":
                kind = query.split()[0] if query else "execute"
            elif name == "fetchrow":
                kind = "ping" if not query else "fetchrow"
            else:
                kind = "prepare" if name == "prepare" else "statement"
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return await original(target, *args, **kwargs)

        return wrapper

    def summary(self) -> str:
        order = ["ping", "BEGIN", "ROLLBACK", "prepare", "statement", "COMMIT"]
        kinds = sorted(self.counts, key=lambda k: order.index(k) if k in order else len(order))
        parts = ", ".join(f"{kind} {self.counts[kind]}" for kind in kinds)
        return f"{sum(self.counts.values())} ({parts})"


class Pong(BaseModel):
    status: str


def floor_app() -> FastAPI:
    """The least an in-process GET costs here: FastAPI, one pydantic response, no middleware."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> Pong:
        return Pong(status="ok")

    return app


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Scenario:
    name: str
    path: str
    api: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    statement: str = ""
    parameters: tuple[Any, ...] = ()
    rows: int = 0
    plan: str = ""
    round_trips: str = ""


async def deep_cursor(
    client: httpx.AsyncClient, headers: dict[str, str], sort: str, depth: int
) -> str:
    """Walk the list (100 per page) to the page holding item ``depth``; its cursor."""
    cursor = ""
    for _ in range(depth // 100):
        url = f"/api/v1/ideas?sort={sort}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=headers)
        response.raise_for_status()
        cursor = response.json()["next_cursor"]
    return cursor


@dataclass
class Floor:
    samples: list[float] = field(default_factory=list)

    def summary(self) -> str:
        if not self.samples:
            return "not measured"
        p50, p95 = statistics.median(self.samples), percentile(self.samples, 0.95)
        return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"


async def measure_floor(iterations: int, warmup: int) -> Floor:
    floor = Floor()
    transport = httpx.ASGITransport(app=floor_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://floor.test") as client:
        for _ in range(warmup):
            (await client.get("/ping")).raise_for_status()
        for _ in range(iterations):
            started = time.perf_counter()
            response = await client.get("/ping")
            floor.samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return floor


async def run(args: argparse.Namespace) -> tuple[list[Scenario], Floor]:
    admin_url = os.environ.get("KOMMUNE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    admin_url = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    url = await create_database(admin_url)
    try:
        await upgrade(ALEMBIC_INI, url)
        data = generate(args.ideas, args.comments)
        seconds = await seed(url, data)
        print(
            f"seeded {len(data.ideas):,} ideas + {len(data.comments):,} comments in {seconds:.1f}s "
            f"({(len(data.ideas) + len(data.comments)) / seconds:,.0f} rows/s incl. index upkeep)"
        )
        scenarios = await measure(url, args)
        floor = await measure_floor(args.iterations, args.warmup)
        return scenarios, floor
    finally:
        if not args.keep:
            await drop_database(admin_url, url)


async def measure(url: str, args: argparse.Namespace) -> list[Scenario]:
    issuer = DevIssuer.generate(TEST_ISSUER_URL)
    settings = IdeasSettings.model_validate(
        {
            "KOMMUNE_ENVIRONMENT": "test",
            "KOMMUNE_LOG_LEVEL": "WARNING",
            "KOMMUNE_OIDC_ISSUER": TEST_ISSUER_URL,
            "database_url": make_url(url)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(False),
            "relay_enabled": False,
            "consumers_enabled": False,
            "database_pool_size": 2,
        }
    )
    app = create_service_app(
        settings,
        title="ideas (bench)",
        routers=ROUTERS,
        http_transport=httpx.ASGITransport(app=issuer_app(issuer)),
    )
    headers = {"Authorization": "Bearer " + issuer.issue("st-bench", ["staff"], "Bench")}
    capture = SqlCapture()
    raw = await asyncpg.connect(url)
    scenarios: list[Scenario] = []
    try:
        async with lifespan_client(app) as client:
            warm = await client.get("/api/v1/ideas?limit=1", headers=headers)
            warm.raise_for_status()
            newest_deep = await deep_cursor(client, headers, "newest", args.depth)
            endorsed_deep = await deep_cursor(client, headers, "most_endorsed", args.depth)
            scenarios = [
                Scenario("list.newest.first_page", "/api/v1/ideas?sort=newest"),
                Scenario(
                    "list.newest.deep_page", f"/api/v1/ideas?sort=newest&cursor={newest_deep}"
                ),
                Scenario("list.most_endorsed.first_page", "/api/v1/ideas?sort=most_endorsed"),
                Scenario(
                    "list.most_endorsed.deep_page",
                    f"/api/v1/ideas?sort=most_endorsed&cursor={endorsed_deep}",
                ),
                Scenario("search.stem_and_compound.rechnung", "/api/v1/ideas?q=Rechnung"),
                Scenario("search.compound_part.bauakte", "/api/v1/ideas?q=bauakte"),
            ]
            for scenario in scenarios:
                await client.get(scenario.path, headers=headers)  # prepared on this connection
                capture.enabled = True
                with RoundTrips() as trips:
                    response = await client.get(scenario.path, headers=headers)
                capture.enabled = False
                scenario.round_trips = trips.summary()
                response.raise_for_status()
                assert capture.statement is not None, scenario.name
                scenario.statement, scenario.parameters = capture.statement, capture.parameters
                scenario.rows = len(response.json()["items"])
                plan = await raw.fetch(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + scenario.statement,
                    *scenario.parameters,
                )
                scenario.plan = "\n".join(row[0] for row in plan)
                raw_rows = await raw.fetch(scenario.statement, *scenario.parameters)
                assert len(raw_rows) == scenario.rows + (1 if response.json()["next_cursor"] else 0)
                for _ in range(args.warmup):
                    await client.get(scenario.path, headers=headers)
                    await raw.fetch(scenario.statement, *scenario.parameters)
                for _ in range(args.iterations):
                    started = time.perf_counter()
                    response = await client.get(scenario.path, headers=headers)
                    api_ms = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200
                    started = time.perf_counter()
                    await raw.fetch(scenario.statement, *scenario.parameters)
                    raw_ms = (time.perf_counter() - started) * 1000
                    scenario.api.append(api_ms)
                    scenario.raw.append(raw_ms)
    finally:
        await raw.close()
    return scenarios


def uses_index(plan: str) -> bool:
    return "Index" in plan and "Seq Scan on ideas" not in plan


def report(scenarios: list[Scenario], floor: Floor, args: argparse.Namespace) -> None:
    records = []
    print(
        "\nfloor (minimal FastAPI endpoint, same in-process ASGI transport, no middleware, "
        f"token or database): {floor.summary()}"
    )
    print(
        f"\n{'scenario':40} {'rows':>4} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} "
        f"{'SQL p95':>9} {'ratio':>6}  index"
    )
    for s in scenarios:
        api50, api95 = statistics.median(s.api), percentile(s.api, 0.95)
        raw50, raw95 = statistics.median(s.raw), percentile(s.raw, 0.95)
        indexes = sorted(
            {
                word.strip("()")
                for line in s.plan.splitlines()
                for word in line.split()
                if word.startswith(("ix_", "pk_"))
            }
        )
        print(
            f"{s.name:40} {s.rows:>4} {api50:>8.2f}ms {api95:>8.2f}ms {raw50:>8.2f}ms "
            f"{raw95:>8.2f}ms {api50 / raw50:>6.1f}  {', '.join(indexes) or 'NONE'}"
        )
        print(f"{'':40} database round trips per request: {s.round_trips}")
        if not uses_index(s.plan):
            print(f"  !! no index used for {s.name}:\n{s.plan}")
        notes = (
            f"{args.ideas} ideas, {args.comments} comments; {args.iterations} iterations; "
            f"API in-process via ASGI incl. token check and JSON; baseline = the captured SQL "
            f"on one asyncpg connection; indexes: {', '.join(indexes) or 'none'}; "
            f"round trips per request: {s.round_trips}; floor (minimal FastAPI endpoint, "
            f"same transport): {floor.summary()}"
        )
        for q, api_value, raw_value in (("p50", api50, raw50), ("p95", api95, raw95)):
            records.append(
                result(
                    f"ideas.{s.name}.{q}",
                    api_value,
                    "ms",
                    baseline_name=f"raw asyncpg, same SQL ({q})",
                    baseline_value=raw_value,
                    notes=notes,
                )
            )
    if args.verbose:
        for s in scenarios:
            print(f"\n--- {s.name}\n{s.statement}\n{s.plan}")
    if not args.no_write:
        merge(records)
        print(f"\n{len(records)} figures merged into bench/results.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=int, default=10_000)
    parser.add_argument("--comments", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--depth", type=int, default=8_000, help="item of the deep cursor page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-write", action="store_true", help="do not touch results.json")
    parser.add_argument("--verbose", action="store_true", help="print SQL and plans")
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    scenarios, floor = asyncio.run(run(args))
    report(scenarios, floor, args)


if __name__ == "__main__":
    main()
