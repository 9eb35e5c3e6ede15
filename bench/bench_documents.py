"""Documents: upload throughput and peak memory next to a plain file copy; search p95 on many
documents next to the same SQL run raw.

Upload (issue 9 acceptance: "upload a 200 MB file ... service memory stays flat"):

(a) the documents service in-process (ASGI, token, multipart parsing, SHA-256, the content store
    with fsync and link, database rows, audit): ``POST /api/v1/documents`` of ``--size-mb`` of
    random bytes, streamed by the client in 1 MiB chunks;
(b) baseline: ``shutil.copyfile`` of the same file plus an ``fsync`` (what any store must do).

For each, the process's peak resident memory is reset before (``/proc/self/clear_refs``) and read
after (``VmHWM``): its growth is the memory the operation needed. Then the document is downloaded
with a ``Range`` and its hash compared, and the same bytes uploaded again must be deduplicated.

Search: ``--documents`` documents (asyncpg COPY, German-looking text, generated search columns
maintained by PostgreSQL) in 1,000 case files; ``GET /api/v1/search?q=...`` for a records manager
(every file) and for a caseworker (access clause with the named-reader subquery), against (c) the
same search as hand-written SQL with asyncpg (ranked page of ids, no snippets, no access clause).

    uv run python bench/bench_documents.py [--size-mb 200] [--documents 100000] [--iterations 100]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` or the local PostgreSQL. Kafka is not needed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import structlog
from results import merge, result
from sqlalchemy.engine import make_url

from kommune.auth.dev_issuer import DevIssuer
from kommune.demo import load_demo_data
from kommune.migrations import upgrade
from kommune.testing.auth import TEST_ISSUER_URL, issuer_app, lifespan_client
from kommune_documents.demo import load
from kommune_documents.main import create_app
from kommune_documents.settings import DocumentsSettings

DEFAULT_DATABASE_URL = "postgresql://kommune:kommune@127.0.0.1:15432/postgres"
ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "documents" / "alembic.ini"
MiB = 1024 * 1024

WORDS = [
    "Bauantrag",
    "Baugenehmigung",
    "Bebauungsplan",
    "Stellungnahme",
    "Anhörung",
    "Bescheid",
    "Widerspruch",
    "Satzung",
    "Gemeinderat",
    "Haushalt",
    "Rechnung",
    "Zahlung",
    "Gebühren",
    "Straßenreinigungsgebühren",
    "Abwasser",
    "Kanal",
    "Friedhof",
    "Kindergarten",
    "Schule",
    "Sanierung",
    "Brandschutz",
    "Lärmschutz",
    "Verkehrsschau",
    "Sondernutzung",
    "Gewerbeanmeldung",
    "Wohngeld",
    "Grundsteuer",
    "Vermessung",
    "Flurstück",
    "Eigentümer",
    "Nachbar",
    "Frist",
    "Akte",
    "Vorgang",
    "Protokoll",
    "Sitzung",
    "Beschluss",
    "Vergabe",
    "Angebot",
    "Auftrag",
    "Abnahme",
    "Mängel",
    "Gutachten",
]
FILLER = [
    "der",
    "die",
    "das",
    "und",
    "mit",
    "für",
    "von",
    "auf",
    "im",
    "am",
    "zum",
    "nach",
    "bei",
    "über",
    "wird",
    "wurde",
    "ist",
    "sind",
]


def peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def create_database(admin_url: str) -> str:
    name = f"bench_documents_{uuid.uuid4().hex[:10]}"
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


def plain_copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(MiB):
            yield chunk


def multipart_body(path: Path, file_id: str, boundary: str) -> AsyncIterator[bytes]:
    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_id"\r\n\r\n{file_id}'
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="scan.pdf"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        async for chunk in chunks(path):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return body()


async def bench_upload(
    client: httpx.AsyncClient, headers: dict[str, str], store: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    try:
        source = work / "source.pdf"
        # A PDF signature (the type is sniffed) and incompressible random bytes.
        with source.open("wb") as out:
            out.write(b"%PDF-1.7\n")
            for _ in range(args.size_mb):
                out.write(os.urandom(MiB))

        files = await client.get("/api/v1/fileplan?limit=100", headers=headers)
        unit = next(u for u in files.json()["items"] if u["code"] == "6.2")
        created = await client.post(
            "/api/v1/files",
            json={"plan_unit_id": unit["id"], "title": "Bench", "department": "bauamt"},
            headers=headers,
        )
        created.raise_for_status()
        file_id = created.json()["id"]

        copy_times, copy_peaks, upload_times, upload_peaks = [], [], [], []
        for round_ in range(args.upload_rounds):
            target = work / f"copy-{round_}"
            base = rss_mb()
            peak_reset()
            started = time.perf_counter()
            plain_copy(source, target)
            copy_times.append(time.perf_counter() - started)
            copy_peaks.append(peak_rss_mb() - base)
            target.unlink()

            # A distinct content each round (one extra line), so nothing is deduplicated.
            with source.open("ab") as out:
                out.write(f"round {round_}\n".encode())
            boundary = uuid.uuid4().hex
            base = rss_mb()
            peak_reset()
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/documents",
                content=multipart_body(source, file_id, boundary),
                headers={
                    **headers,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
            )
            upload_times.append(time.perf_counter() - started)
            upload_peaks.append(peak_rss_mb() - base)
            assert response.status_code == 201, response.text
            document = response.json()
        size = source.stat().st_size
        with source.open("rb") as stream:
            sha = hashlib.file_digest(stream, "sha256").hexdigest()
        assert document["versions"][0]["sha256"] == sha
        assert (store / sha[:2] / sha[2:4] / sha).stat().st_size == size
        ranged = await client.get(
            f"/api/v1/documents/{document['id']}/content",
            headers={**headers, "Range": f"bytes={size - 100}-"},
        )
        assert ranged.status_code == 206
        with source.open("rb") as stream:
            stream.seek(size - 100)
            assert ranged.content == stream.read()
        again = await client.post(
            "/api/v1/documents",
            content=multipart_body(source, file_id, boundary),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert again.json()["deduplicated"] is True

        copy_mbs = size / MiB / statistics.median(copy_times)
        upload_mbs = size / MiB / statistics.median(upload_times)
        print(
            f"upload {size / MiB:.0f} MiB: service {upload_mbs:.0f} MiB/s "
            f"(peak RSS +{max(upload_peaks):.1f} MiB), plain copy+fsync {copy_mbs:.0f} MiB/s "
            f"(peak RSS +{max(copy_peaks):.1f} MiB); stored once by hash, Range and dedup checked"
        )
        return [
            result(
                "documents.upload.throughput",
                upload_mbs,
                "MiB/s",
                baseline_name="shutil.copyfile + fsync",
                baseline_value=copy_mbs,
                notes=f"{size / MiB:.0f} MiB random bytes (PDF signature), "
                f"median of {args.upload_rounds}, in-process ASGI",
            ),
            result(
                "documents.upload.peak_rss_growth",
                max(upload_peaks),
                "MiB",
                baseline_name="shutil.copyfile + fsync",
                baseline_value=max(max(copy_peaks), 0.1),
                notes=f"VmHWM growth during a {size / MiB:.0f} MiB upload (client in-process too)",
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


SYLLABLES = "an be bau ge hal ken lan mer nis ord pla rat sch sta ter ung ver wal zei"
VOCABULARY = [
    "".join(random.Random(n).choice(SYLLABLES.split()) for _ in range(3 + n % 3)).capitalize()
    for n in range(20_000)
]
"""Pseudo-German words: a large vocabulary, so that a real term is selective, as in real files."""


def sentence(rng: random.Random, words: int) -> str:
    picked = []
    for _ in range(words):
        roll = rng.random()
        pool = WORDS if roll < 0.03 else FILLER if roll < 0.3 else VOCABULARY
        picked.append(rng.choice(pool))
    return " ".join(picked)


SEARCH_INDEXES = {
    "ix_documents_search_vector": "USING gin (search_vector) WITH (fastupdate = off)",
    "ix_documents_search_text_trgm": "USING gin (search_text gin_trgm_ops) WITH (fastupdate = off)",
}


async def seed_documents(url: str, count: int) -> float:
    rng = random.Random(7)
    connection = await asyncpg.connect(url)
    try:
        unit = await connection.fetchval("SELECT id FROM plan_units WHERE code = '6.2'")
        now = datetime.now(UTC)
        files = [
            (
                uuid.uuid4(),
                unit,
                f"6.2/2020/{n + 1:05d}",
                2020,
                n + 1,
                f"Akte {n}",
                "bauamt" if n % 2 else "kaemmerei",
                "normal",
                "open",
                now,
                "bench",
                now,
            )
            for n in range(1000)
        ]
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "case_files",
            records=files,
            columns=[
                "id",
                "plan_unit_id",
                "file_number",
                "year",
                "sequence",
                "title",
                "department",
                "confidentiality",
                "status",
                "opened_at",
                "created_by",
                "updated_at",
            ],
        )
        # As a bulk import would: the search indexes are built once after the COPY (same
        # definitions as the migration), not row by row.
        for name in SEARCH_INDEXES:
            await connection.execute(f"DROP INDEX {name}")
        documents = [
            (
                uuid.uuid4(),
                files[n % 1000][0],
                sentence(rng, 6)[:200],
                1,
                sentence(rng, 150),
                "bench",
                now,
                now,
            )
            for n in range(count)
        ]
        await connection.copy_records_to_table(
            "documents",
            records=documents,
            columns=[
                "id",
                "file_id",
                "title",
                "current_version",
                "content_text",
                "created_by",
                "created_at",
                "updated_at",
            ],
        )
        for name, definition in SEARCH_INDEXES.items():
            await connection.execute(f"CREATE INDEX {name} ON documents {definition}")
        await connection.execute("ANALYZE")
        return time.perf_counter() - started
    finally:
        await connection.close()


RAW_SEARCH = """
SELECT d.id FROM documents d
WHERE d.search_vector @@ websearch_to_tsquery('german', $1)
   OR d.search_text LIKE $2
   OR d.file_id = ANY(ARRAY(SELECT id FROM case_files WHERE file_number = $1))
ORDER BY ts_rank(d.search_vector, websearch_to_tsquery('german', $1))
         + similarity(lower(d.title), lower($1)) DESC, d.id DESC
LIMIT 21
"""


async def bench_search(
    client: httpx.AsyncClient, people: dict[str, dict[str, str]], url: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    raw = await asyncpg.connect(url)
    records = []
    try:
        for q in ("Lärmschutz Gutachten", "reinigungsgebühr"):
            samples: dict[str, list[float]] = {name: [] for name in (*people, "raw")}
            for i in range(args.iterations + 5):
                for name, headers in people.items():
                    started = time.perf_counter()
                    response = await client.get("/api/v1/search", params={"q": q}, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.text
                    if i >= 5:
                        samples[name].append(elapsed)
                started = time.perf_counter()
                await raw.fetch(RAW_SEARCH, q, f"%{q.lower()}%")
                if i >= 5:
                    samples["raw"].append((time.perf_counter() - started) * 1000)
            p95 = {k: statistics.quantiles(v, n=20)[18] for k, v in samples.items()}
            print(
                f"search {q!r} on {args.documents:,} documents, p95 ms: "
                + ", ".join(f"{k} {v:.1f}" for k, v in p95.items())
            )
            for name in people:
                records.append(
                    result(
                        f"documents.search.{name}.{q.split()[0].lower()}.p95",
                        p95[name],
                        "ms",
                        baseline_name="raw asyncpg search SQL (no access clause, no snippets)",
                        baseline_value=p95["raw"],
                        notes=f"{args.documents:,} documents, {args.iterations} iterations",
                    )
                )
    finally:
        await raw.close()
    return records


def bench_settings(url: str, storage_path: Path, size_mb: int, **extra: Any) -> DocumentsSettings:
    """The service as the benchmarks run it: no relay or consumers, uploads up to ``size_mb``."""
    return DocumentsSettings.model_validate(
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
            "storage_path": str(storage_path),
            "max_upload_bytes": (size_mb + 16) * MiB,
            "max_extract_bytes": 0,
            **extra,
        }
    )


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    admin_url = os.environ.get("KOMMUNE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    admin_url = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    url = await create_database(admin_url)
    store = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        await upgrade(ALEMBIC_INI, url)
        issuer = DevIssuer.generate(TEST_ISSUER_URL)
        settings = bench_settings(url, store, args.size_mb)
        await load_demo_data(settings, load)
        seconds = await seed_documents(url, args.documents)
        print(f"seeded {args.documents:,} documents in {seconds:.1f}s")
        records_manager = {
            "Authorization": "Bearer " + issuer.issue("rm-bench", ["records_manager"], "RM")
        }
        caseworker = {
            "Authorization": "Bearer " + issuer.issue("cw-bench", ["caseworker"], "CW", "bauamt")
        }
        app = create_app(settings, http_transport=httpx.ASGITransport(app=issuer_app(issuer)))
        async with lifespan_client(app) as client:
            client.timeout = httpx.Timeout(600)
            records = await bench_upload(client, records_manager, store, args)
            records += await bench_search(
                client,
                {"records_manager": records_manager, "caseworker": caseworker},
                url,
                args,
            )
        return records
    finally:
        shutil.rmtree(store, ignore_errors=True)
        await drop_database(admin_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--upload-rounds", type=int, default=3)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    records = asyncio.run(run(args))
    merge(records)


if __name__ == "__main__":
    main()
