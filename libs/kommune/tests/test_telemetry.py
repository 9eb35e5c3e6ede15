"""Request context, metrics, logs and body limits, seen from a client of a small app."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import REGISTRY, generate_latest
from pydantic import BaseModel
from starlette.types import Message, Scope

from kommune.app import install_runtime
from kommune.telemetry import logging as kommune_logging
from kommune.telemetry.context import (
    current_traceparent,
    new_traceparent,
    random_id,
    request_id_var,
    valid_traceparent,
)
from kommune.telemetry.logging import (
    configure_logging,
    later,
    stop_background_writer,
    write_in_background,
)

router = APIRouter()


def exposition() -> str:
    """What the metrics listener serves (kommune.serve.MetricsServer: the default registry)."""
    return generate_latest(REGISTRY).decode()


class Item(BaseModel):
    name: str


@router.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, object]:
    return {"id": item_id, "request_id": request_id_var.get(), "trace": current_traceparent()}


@router.post("/items")
async def create_item(item: Item) -> Item:
    return item


@router.post("/upload/raw")
async def upload_raw(request: Request) -> dict[str, int]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"size": size}


@router.get("/own-ids")
async def own_ids() -> Response:
    """An application that sets the headers the middleware owns (e.g. a relayed answer)."""
    return Response(
        headers={"X-Request-ID": "from-the-app", "traceparent": "00-app", "X-Other": "kept"}
    )


@router.api_route("/upload/count", methods=["GET", "PATCH"])
async def upload_count(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internal detail")


@router.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


prefixed = APIRouter()


@prefixed.get("/things/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    return {"id": thing_id}


def make_app(service: str = "telemetry-test") -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.include_router(prefixed, prefix="/api/v1/{tenant}")
    install_runtime(
        app, service_name=service, max_body_bytes=1024, body_limits={"/upload": 64 * 1024}
    )
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as c:
        yield c


async def test_request_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/1")
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert response.json()["request_id"] == generated

    response = await client.get("/items/1", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"


async def test_the_apps_own_id_headers_are_replaced_not_repeated(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/own-ids", headers={"X-Request-ID": "caller-1"})
    assert response.headers.get_list("x-request-id") == ["caller-1"]
    assert len(response.headers.get_list("traceparent")) == 1
    assert response.headers["traceparent"] != "00-app"
    assert response.headers["x-other"] == "kept"


async def test_a_request_without_a_declared_body_reads_as_empty(client: httpx.AsyncClient) -> None:
    # No Content-Length, no Transfer-Encoding: HTTP/1.1 has no body then (RFC 9112, 6.3), and
    # the body limit lets the request pass without counting; with a body it counts again.
    empty = await client.get("/upload/count")
    assert "content-length" not in empty.request.headers
    assert "transfer-encoding" not in empty.request.headers
    assert empty.status_code == 200
    assert empty.json() == {"size": 0}
    counted = await client.request("PATCH", "/upload/count", content=b"x" * 10)
    assert counted.json() == {"size": 10}
    over = await client.request("PATCH", "/upload/count", content=b"x" * (64 * 1024 + 1))
    assert over.status_code == 413


@pytest.mark.parametrize("bad", ["x" * 129, "bad\x01id", " "])
async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/items/1", headers={"X-Request-ID": bad})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


def test_generated_ids_are_well_formed_distinct_and_never_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([0, 0, 5])
    monkeypatch.setattr("random.getrandbits", lambda bits: next(draws))
    assert random_id(64) == "0000000000000005"  # zero is drawn again (W3C forbids zero ids)
    monkeypatch.undo()
    traces = {new_traceparent() for _ in range(1000)}
    assert len(traces) == 1000
    assert all(valid_traceparent(trace) == trace for trace in traces)


async def test_traceparent_continues_the_callers_trace(client: httpx.AsyncClient) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await client.get("/items/1", headers={"traceparent": parent})
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert span_id != "b7ad6b7169203331"
    assert response.json()["trace"] == response.headers["traceparent"]


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
    ],
)
async def test_invalid_traceparent_starts_a_new_trace(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/items/1", headers={"traceparent": bad})
    trace_id = response.headers["traceparent"].split("-")[1]
    assert trace_id not in bad
    assert len(trace_id) == 32


async def test_context_does_not_leak_after_the_request(client: httpx.AsyncClient) -> None:
    await client.get("/items/1", headers={"X-Request-ID": "leak-check"})
    assert request_id_var.get() is None


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert "x-request-id" in response.headers


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"


async def test_unhandled_error_is_a_500_problem_without_internals(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "boom-1"


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x" * 2000})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["max_bytes"] == 1024
    assert "x-request-id" in response.headers


async def test_chunked_oversized_body_is_413_while_streaming(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 512
            yield b"{" + b" " * 510 + b"}"

    response = await client.post(
        "/items", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_path_limit_allows_larger_uploads_only_there(client: httpx.AsyncClient) -> None:
    async def chunks(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield b"x" * 1024

    ok = await client.post("/upload/raw", content=chunks(32))
    assert ok.status_code == 200
    assert ok.json() == {"size": 32 * 1024}
    too_big = await client.post("/upload/raw", content=chunks(65))
    assert too_big.status_code == 413
    assert too_big.json()["max_bytes"] == 64 * 1024


async def test_invalid_content_length_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", content=b"{}", headers={"Content-Length": "-5"})
    assert response.status_code == 400


async def test_streaming_response_passes_through(client: httpx.AsyncClient) -> None:
    response = await client.get("/stream")
    assert response.text == "chunk0\nchunk1\nchunk2\n"
    assert "x-request-id" in response.headers


async def test_metrics_count_by_route_template(client: httpx.AsyncClient) -> None:
    for item_id in (1, 2, 3):
        await client.get(f"/items/{item_id}")
    await client.get("/this/is/random/123")
    await client.get("/api/v1/t1/things/abc")
    assert (await client.get("/metrics")).status_code == 404  # its own listener: test_serve.py
    text = exposition()
    assert 'route="/api/v1/{tenant}/things/{thing_id}"' in text
    assert "/api/v1/t1" not in text
    assert (
        'kommune_http_requests_total{method="GET",route="/items/{item_id}",'
        'service="telemetry-test",status="200"}'
    ) in text
    assert "kommune_http_request_duration_seconds_bucket" in text
    assert "/items/1" not in text
    assert "/this/is/random" not in text
    assert 'route="<unmatched>"' in text


async def test_probe_and_metrics_routes_are_not_in_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths
    assert "/healthz" not in paths
    assert "/readyz" not in paths


async def test_healthz_needs_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _capture_root() -> io.StringIO:
    """Point the kommune handler at a buffer (pytest's capture replaces sys.stderr)."""
    buffer = io.StringIO()
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "kommune":
            if isinstance(handler, logging.handlers.QueueHandler):  # the background writer's
                handler = handler.writer.handler  # type: ignore[attr-defined]
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(buffer)
    return buffer


async def test_access_log_is_one_json_line_with_request_context(
    client: httpx.AsyncClient,
) -> None:
    configure_logging("INFO", json=True, service="telemetry-test")
    buffer = _capture_root()
    await client.get("/items/5", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "kommune.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["event"] == "request"
    assert entry["request_id"] == "log-me"
    assert entry["route"] == "/items/{item_id}"
    assert entry["status"] == 200
    assert entry["service"] == "telemetry-test"
    assert entry["level"] == "info"
    assert entry["timestamp"].endswith("Z")
    assert "traceparent" in entry


async def test_lines_written_in_background_carry_the_moment_they_were_made(
    client: httpx.AsyncClient,
) -> None:
    """Servers render and write on a writer thread; a line still has its request's id and
    trace, a library's record included, and its own time; all are written at the stop."""
    threads_before = threading.active_count()
    made: list[float] = []
    library_logger = logging.getLogger("kommune.test.library")

    def remember_when(record: logging.LogRecord) -> bool:
        made.append(record.created)
        return True

    library_logger.addFilter(remember_when)
    write_in_background()
    try:
        configure_logging("INFO", json=True, service="background-test")
        configure_logging("INFO", json=True, service="background-test")
        ours = [h for h in logging.getLogger().handlers if h.get_name() == "kommune"]
        assert len(ours) == 1
        assert isinstance(ours[0], logging.handlers.QueueHandler)
        assert threading.active_count() == threads_before + 1  # one writer, however often
        buffer = _capture_root()
        labels = {
            "service": "telemetry-test",
            "method": "GET",
            "route": "/items/{item_id}",
            "status": "200",
        }
        counted = REGISTRY.get_sample_value("kommune_http_requests_total", labels) or 0.0
        await client.get("/items/5", headers={"X-Request-ID": "in-background"})
        await client.get("/boom", headers={"X-Request-ID": "broken"})
        token = request_id_var.set("library-call")
        try:
            library_logger.warning("from a library")
        finally:
            request_id_var.reset(token)
        stop_background_writer()
    finally:
        library_logger.removeFilter(remember_when)
        write_in_background(False)
        configure_logging("INFO", json=True, service="background-test")
    # The requests' metrics were recorded on the writer thread too (logging.later).
    assert REGISTRY.get_sample_value("kommune_http_requests_total", labels) == counted + 1
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "kommune.access"]
    assert [line["request_id"] for line in access] == ["in-background", "broken"]
    # The traceback is the one being handled when the line was made, not the writer's (none).
    (error,) = [line for line in lines if line["event"] == "unhandled_error"]
    assert error["request_id"] == "broken"
    assert error["exception"][0]["exc_type"] == "RuntimeError"
    assert error["exception"][0]["frames"][-1]["name"] == "boom"
    assert access[0]["route"] == "/items/{item_id}"
    assert "traceparent" in access[0]
    library = [line for line in lines if line["event"] == "from a library"]
    assert len(library) == 1
    assert library[0]["request_id"] == "library-call"
    assert library[0]["service"] == "background-test"
    when = datetime.fromtimestamp(made[0], UTC).replace(tzinfo=None).isoformat() + "Z"
    assert library[0]["timestamp"] == when  # the record's time, not the writer's
    assert threading.active_count() == threads_before
    back = [h for h in logging.getLogger().handlers if h.get_name() == "kommune"]
    assert len(back) == 1
    assert not isinstance(back[0], logging.handlers.QueueHandler)


def test_a_writer_that_falls_behind_makes_callers_write_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded: beyond the queue limit a line is written before the call returns."""
    monkeypatch.setattr("kommune.telemetry.logging.QUEUE_LIMIT", 0)
    write_in_background()
    try:
        configure_logging("INFO", json=True, service="behind-test")
        buffer = _capture_root()
        structlog.get_logger("kommune.test").warning("written at once")
        assert json.loads(buffer.getvalue())["event"] == "written at once"
    finally:
        stop_background_writer()
        write_in_background(False)
        configure_logging("INFO", json=True, service="behind-test")


def test_configure_logging_is_idempotent_and_routes_stdlib() -> None:
    # Another server in the process (a test's webhook receiver, say) left uvicorn's loggers at
    # its own level; ours must not inherit it.
    uvicorn.Config(make_app(service="other"), log_level="warning")
    configure_logging("INFO", json=True, service="svc-a")
    configure_logging("INFO", json=True, service="svc-a")
    configure_logging("INFO", json=True, service="svc-b")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "kommune"]
    assert len(ours) == 1
    buffer = _capture_root()
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("aiokafka").info("noise")
    structlog.get_logger("kommune.test").warning("something", answer=42)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["Started server process", "something"]
    assert all(line["service"] == "svc-b" for line in lines)
    assert lines[1]["answer"] == 42
    assert lines[0]["logger"] == "uvicorn.error"


async def test_client_disconnect_is_recorded_not_treated_as_an_error() -> None:
    app = make_app(service="disconnect-test")
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload/raw",
        "raw_path": b"/upload/raw",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"svc.test"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1234),
        "server": ("svc.test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    assert sent == []  # nobody to answer
    text = exposition()
    assert 'route="/upload/raw",service="disconnect-test",status="499"' in text


@pytest.fixture
def background_writer() -> Iterator[io.StringIO]:
    """The writer thread of a served process, its lines in the returned buffer."""
    write_in_background()
    try:
        configure_logging("INFO", json=True, service="later-test")
        yield _capture_root()
    finally:
        stop_background_writer()
        write_in_background(False)
        configure_logging("INFO", json=True, service="later-test")


def test_later_runs_on_the_writer_thread_in_the_callers_context_and_moment(
    background_writer: io.StringIO,
) -> None:
    ran: list[tuple[str, str | None]] = []

    def bookkeeping(label: str) -> None:
        ran.append((threading.current_thread().name, request_id_var.get()))
        time.sleep(0.1)  # whenever this runs, the line below is logged at least 0.1 s later
        structlog.get_logger("kommune.test").info("booked", label=label)

    token = request_id_var.set("handed-over")
    try:
        before = time.time()
        later(bookkeeping, "first")
        after = time.time()
    finally:
        request_id_var.reset(token)  # the request is over before the writer gets to it
    stop_background_writer()  # runs what is queued, writes, joins

    assert ran == [("kommune-log-writer", "handed-over")]
    (line,) = [json.loads(x) for x in background_writer.getvalue().splitlines() if "booked" in x]
    assert line["label"] == "first"
    assert line["request_id"] == "handed-over"
    assert after - before < 0.1
    stamped = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
    assert before - 1e-6 <= stamped <= after + 1e-6  # when it was handed over, not logged


def test_later_runs_in_the_caller_without_a_writer_or_with_its_queue_full(
    background_writer: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(kommune_logging, "QUEUE_LIMIT", 0)
    later(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]  # before later() returned

    stop_background_writer()
    later(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name] * 2


def test_a_call_that_fails_on_the_writer_thread_stops_nothing_else(
    background_writer: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("bookkeeping failed")

    later(broken)
    later(ran.append, "after")
    stop_background_writer()
    assert ran == ["after"]
    assert "bookkeeping failed" in capsys.readouterr().err
