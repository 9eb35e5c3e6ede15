"""Documents with the S3 content store: a large upload and download, throughput and peak memory,
next to boto3's own ``upload_file`` of the same file to the same server.

(a) the documents service in-process with ``DOCUMENTS_STORAGE_BACKEND=s3`` (ASGI, token,
    multipart parsing, SHA-256, staging file, conditional multipart upload, database rows):
    ``POST /api/v1/documents`` of ``--size-mb`` random bytes, then the whole content downloaded
    (straight through ASGI, hashed as it is sent, never held) and a ``Range`` at the end;
(b) baseline: ``boto3``'s ``upload_file`` (s3transfer, 8 MiB parts, 10 threads) of the same file
    to the same bucket, and ``download_fileobj`` of it into a hash.

The S3 server is ``moto`` in server mode on a free loopback port (its memory is its own process's,
not counted). Peak resident memory growth of this process: ``/proc/self/clear_refs`` + ``VmHWM``.

    uv run python bench/bench_documents_s3.py [--size-mb 200]

Servers: ``KOMMUNE_TEST_DATABASE_URL`` or the local PostgreSQL. Kafka is not needed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Final, cast

import boto3
import httpx
import structlog
from bench_documents import (
    ALEMBIC_INI,
    DEFAULT_DATABASE_URL,
    MiB,
    bench_settings,
    create_database,
    drop_database,
    multipart_body,
    peak_reset,
    peak_rss_mb,
    rss_mb,
)
from results import merge, result
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommune.auth.dev_issuer import DevIssuer
from kommune.demo import load_demo_data
from kommune.migrations import upgrade
from kommune.testing.auth import TEST_ISSUER_URL, issuer_app
from kommune_documents.demo import load
from kommune_documents.main import create_app

BUCKET = "bench-documents"
REGION: Final = "eu-central-1"
ANY_KEY = "bench"
"""moto (without authentication) takes any key."""


@contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > until or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def asgi_download(app: ASGIApp, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``path`` straight through ASGI, hashing the body as it is sent: httpx's
    ``ASGITransport`` would collect the whole body in memory and hide the service's own use."""
    digest = hashlib.sha256()
    status = 0
    requested = False
    never = asyncio.Event()

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            digest.update(message.get("body", b""))

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")]
        + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    await app(scope, receive, send)
    return status, digest.hexdigest()


class _HashSink:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


async def bench(args: argparse.Namespace, endpoint: str) -> list[dict[str, Any]]:
    admin_url = os.environ.get("KOMMUNE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    admin_url = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    url = await create_database(admin_url)
    work = Path(tempfile.mkdtemp(prefix="bench-documents-s3-"))
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ANY_KEY,
        aws_secret_access_key=ANY_KEY,
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    try:
        await upgrade(ALEMBIC_INI, url)
        source = work / "source.pdf"
        with source.open("wb") as out:
            out.write(b"%PDF-1.7\n")
            for _ in range(args.size_mb):
                out.write(os.urandom(MiB))
        size = source.stat().st_size
        with source.open("rb") as stream:
            sha = hashlib.file_digest(stream, "sha256").hexdigest()

        # (b) baseline first: boto3's transfer manager, same file, same server.
        base = rss_mb()
        peak_reset()
        started = time.perf_counter()
        s3.upload_file(str(source), BUCKET, "baseline/source.pdf")
        baseline_up = time.perf_counter() - started
        baseline_up_peak = peak_rss_mb() - base
        sink = _HashSink()
        base = rss_mb()
        peak_reset()
        started = time.perf_counter()
        s3.download_fileobj(BUCKET, "baseline/source.pdf", cast(IO[bytes], sink))
        baseline_down = time.perf_counter() - started
        baseline_down_peak = peak_rss_mb() - base
        assert sink.digest.hexdigest() == sha
        s3.delete_object(Bucket=BUCKET, Key="baseline/source.pdf")

        issuer = DevIssuer.generate(TEST_ISSUER_URL)
        settings = bench_settings(
            url,
            work / "staging",
            args.size_mb,
            storage_backend="s3",
            s3_endpoint_url=endpoint,
            s3_bucket=BUCKET,
            s3_region=REGION,
            s3_access_key_id=ANY_KEY,
            s3_secret_access_key=ANY_KEY,
            s3_addressing_style="path",
        )
        await load_demo_data(settings, load)
        headers = {"Authorization": "Bearer " + issuer.issue("rm-bench", ["records_manager"], "R")}
        app = create_app(settings, http_transport=httpx.ASGITransport(app=issuer_app(issuer)))
        async with app.router.lifespan_context(app) as state:
            lifespan_state = dict(state or {})

            async def app_with_state(scope: Scope, receive: Receive, send: Send) -> None:
                scope["state"] = dict(lifespan_state)  # as uvicorn does
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=app_with_state)
            client = httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=httpx.Timeout(600)
            )
            plan = await client.get("/api/v1/fileplan?limit=100", headers=headers)
            unit = next(u for u in plan.json()["items"] if u["code"] == "6.2")
            created = await client.post(
                "/api/v1/files",
                json={"plan_unit_id": unit["id"], "title": "Bench", "department": "bauamt"},
                headers=headers,
            )
            created.raise_for_status()
            file_id = created.json()["id"]

            boundary = uuid.uuid4().hex
            base = rss_mb()
            peak_reset()
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/documents",
                content=multipart_body(source, file_id, boundary),
                headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            service_up = time.perf_counter() - started
            service_up_peak = peak_rss_mb() - base
            assert response.status_code == 201, response.text
            document = response.json()
            assert document["versions"][0]["sha256"] == sha

            content_url = f"/api/v1/documents/{document['id']}/content"
            base = rss_mb()
            peak_reset()
            started = time.perf_counter()
            code, downloaded = await asgi_download(app_with_state, content_url, headers)
            service_down = time.perf_counter() - started
            service_down_peak = peak_rss_mb() - base
            assert code == 200
            assert downloaded == sha

            ranged = await client.get(
                content_url, headers={**headers, "Range": f"bytes={size - 100}-"}
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
            await client.aclose()

        mib = size / MiB
        print(
            f"S3 upload {mib:.0f} MiB: service {mib / service_up:.0f} MiB/s "
            f"(peak RSS +{service_up_peak:.1f} MiB), boto3 upload_file {mib / baseline_up:.0f} "
            f"MiB/s (+{baseline_up_peak:.1f} MiB); download: service {mib / service_down:.0f} "
            f"MiB/s (+{service_down_peak:.1f} MiB), boto3 download_fileobj "
            f"{mib / baseline_down:.0f} MiB/s (+{baseline_down_peak:.1f} MiB); "
            "Range and dedup checked"
        )
        notes = f"{mib:.0f} MiB random bytes, moto server on loopback, in-process ASGI client"
        return [
            result(
                "documents.s3.upload.throughput",
                mib / service_up,
                "MiB/s",
                baseline_name="boto3 upload_file",
                baseline_value=mib / baseline_up,
                notes=notes,
            ),
            result(
                "documents.s3.upload.peak_rss_growth",
                service_up_peak,
                "MiB",
                baseline_name="boto3 upload_file",
                baseline_value=max(baseline_up_peak, 0.1),
                notes=notes,
            ),
            result(
                "documents.s3.download.throughput",
                mib / service_down,
                "MiB/s",
                baseline_name="boto3 download_fileobj",
                baseline_value=mib / baseline_down,
                notes=notes,
            ),
            result(
                "documents.s3.download.peak_rss_growth",
                service_down_peak,
                "MiB",
                baseline_name="boto3 download_fileobj",
                baseline_value=max(baseline_down_peak, 0.1),
                notes=notes,
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        await drop_database(admin_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with moto_server() as endpoint:
        records = asyncio.run(bench(args, endpoint))
    merge(records)


if __name__ == "__main__":
    main()
