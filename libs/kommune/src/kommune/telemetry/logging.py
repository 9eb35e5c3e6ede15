"""Structured logs: one JSON object per line, the same shape for our logs and the libraries'.

Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``event`` and ``service``,
plus ``request_id`` and ``traceparent`` while a request (or a consumed event) is being handled.
Records from the standard library (uvicorn, SQLAlchemy, aiokafka, httpx) go through the same
renderer via one root handler. Calling :func:`configure_logging` again replaces the configuration
instead of stacking handlers, so it is safe in app factories and tests.

Servers (:mod:`kommune.serve`) call :func:`write_in_background` first: lines are then rendered
and written by a thread of their own, in one write per batch, while the event loop waits on the
network, instead of on the request's way. Our own (structlog) events go onto its queue as event
dicts, without a standard-library ``LogRecord``; libraries' records reach it through the
standard library's ``QueueHandler``. Either keeps what belongs to the moment it was made (time,
request id, trace, the exception being handled); only JSON encoding and the write move.
:func:`later` hands the same thread what a request still does after its answer (its metrics
and access log line). Tests keep the direct handler and run :func:`later` calls at once, so
what a test logs or counts is there when it returns.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import logging.handlers
import queue
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
import structlog.tracebacks
from structlog.typing import EventDict, Processor, WrappedLogger

from kommune.telemetry.context import request_id_var, traceparent_var

_HANDLER_NAME = "kommune"
_state: dict[str, Any] = {}

# Libraries whose INFO chatter is not worth a line per event in production.
_QUIET_LOGGERS = ("aiokafka", "sqlalchemy", "httpx", "httpcore", "asyncio")


def _add_request_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    traceparent = traceparent_var.get()
    if traceparent is not None:
        event_dict.setdefault("traceparent", traceparent)
    return event_dict


def _add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Read at log time, so loggers cached before a reconfiguration pick up the new name.
    service = _state.get("service")
    if service is not None:
        event_dict.setdefault("service", service)
    return event_dict


def _capture_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``exc_info=True`` (``log.exception``) means the exception being handled *now*: take it
    while still on the caller's thread. Rendered later on the writer thread, ``True`` would
    look up that thread's exception, i.e. none, and the traceback would be lost."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        event_dict["exc_info"] = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        event_dict["exc_info"] = (type(exc_info), exc_info, exc_info.__traceback__)
    return event_dict


_moment: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "kommune_log_moment", default=None
)
"""When what is being logged happened, if not now: set for calls run :func:`later`."""


def _timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``timestamp``: when it happened (ISO 8601, UTC, as ``TimeStamper(fmt="iso", utc=True)``
    writes it), which for a call run :func:`later` is when it was handed over."""
    moment = _moment.get()
    event_dict["timestamp"] = _iso_utc(time.time() if moment is None else moment)
    return event_dict


def _iso_utc(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 in UTC, e.g. ``2026-11-29T20:19:28.123456Z``."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat() + "Z"


def _hand_over(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
    """The last processor: with a writer thread running, the finished event goes straight onto
    its queue (rendered and written there), without a standard-library ``LogRecord``: that part
    was half of what a line cost the caller (cProfile of the access-log line). Otherwise, and
    when the queue is full, it goes on to the standard library's handler as usual."""
    writer: _BatchWriter | None = _state.get("writer")
    if writer is not None and writer.offer((method_name, event_dict)):
        raise structlog.DropEvent
    return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, method_name, event_dict)


_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    _add_request_context,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _timestamp,
    _add_service,
]


def _time_of_record(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A library record's timestamp: when it was made (it may be rendered later, on the writer
    thread)."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict.setdefault("timestamp", _iso_utc(record.created))
    return event_dict


# For records that did not come through structlog: rendered (maybe on the writer thread) from
# the record alone. The request context was copied onto the record when it was made.
_FOREIGN: list[Processor] = [
    _time_of_record,
    *(p for p in _SHARED if p is not _timestamp),
    structlog.stdlib.ExtraAdder(),
]


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn duplicates its message with ANSI colours in an "extra" field.
    event_dict.pop("color_message", None)
    return event_dict


def never_cache_loggers() -> None:
    """For test sessions: loggers are not cached on first use.

    ``structlog.testing.capture_logs`` cannot see a logger cached before the capture began, so in
    a session where some earlier test used a module's logger, a later test capturing that
    module's events would see nothing (and fail only when run after the other).
    """
    _state["uncached"] = True
    structlog.configure(cache_logger_on_first_use=False)


def configure_logging(level: str, *, json: bool, service: str) -> None:
    """Configure structlog and the standard library's root logger (idempotent)."""
    key = (level.upper(), json, service)
    if _state.get("key") == key and _handler_installed():
        _quiet_uvicorn()
        return

    _state["service"] = service
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )

    if not _state.get("structlog_configured"):
        # The structlog side never changes (rendering happens in the stdlib handler below), so
        # loggers cached on first use stay valid across reconfigurations.
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *_SHARED,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(),
                _capture_exc_info,
                _hand_over,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=not _state.get("uncached"),
        )
        _state["structlog_configured"] = True

    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        # Structured tracebacks without local variables: those may hold tokens or personal data.
        final.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    final.extend([_drop_color_message, renderer])
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_FOREIGN, processors=final)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    handler = _background_writer(stream) if _state.get("background") else stream
    handler.set_name(_HANDLER_NAME)

    _skip_unused_record_fields()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    numeric_level = logging.getLevelName(level.upper())
    root.setLevel(numeric_level if isinstance(numeric_level, int) else logging.INFO)

    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    _quiet_uvicorn()
    _state["key"] = key


def write_in_background(on: bool = True) -> None:
    """Render and write log lines on a writer thread from the next :func:`configure_logging` on
    (``on=False``: in the caller's thread again).

    For server processes: the access log line of a proxied request cost the gateway about a
    tenth of its CPU time on the request's way (bench/bench_gateway.py --profile). Lines still
    waiting are written at exit (:func:`stop_background_writer`, also registered with atexit).
    """
    if bool(_state.get("background")) == on:
        return
    _state["background"] = on
    _state.pop("key", None)  # the next configure_logging installs the handler
    if on and not _state.get("atexit"):
        atexit.register(stop_background_writer)
        _state["atexit"] = True


def stop_background_writer() -> None:
    """Write what is queued and stop the writer thread (a no-op without one)."""
    writer: _BatchWriter | None = _state.pop("writer", None)
    if writer is not None:
        writer.stop()


WRITE_EVERY_SECONDS = 0.05
"""How often the writer thread wakes up to render and write what was queued."""
QUEUE_LIMIT = 10_000
"""Queued records beyond which the caller renders and writes its own (memory stays bounded)."""


class _Later:
    """A call handed to the writer thread by :func:`later`."""

    __slots__ = ("args", "call", "context", "moment")

    def __init__(self, call: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.call = call
        self.args = args
        self.context = contextvars.copy_context()  # constant time: contexts are immutable maps
        self.moment = time.time()

    def run(self) -> None:
        self.context.run(self._in_context)

    def _in_context(self) -> None:
        _moment.set(self.moment)
        self.call(*self.args)


def later(call: Callable[..., object], *args: Any) -> None:
    """Run ``call(*args)`` on the writer thread, within 50 ms, in a snapshot of the caller's
    context (request id, trace) and with this moment as the time of what it logs; in the caller
    when no writer thread runs (tests) or its queue is full.

    For what a request still has to do once its answer is out: its access log line and its
    metrics. On the event loop, that work came before the next request on the connection was
    read; on the writer thread, it runs while the loop waits on the network (ADR 0015,
    amendment 4). The call must be safe on another thread (``prometheus_client`` is) and
    must not raise: an exception is reported on stderr, as a failing log handler's is.
    """
    writer: _BatchWriter | None = _state.get("writer")
    if writer is None or not writer.offer(_Later(call, args)):
        call(*args)


Queued = logging.LogRecord | tuple[str, EventDict] | _Later
"""A library's record, a structlog event (its method name and finished event dict), or a
call run :func:`later`."""


class _BatchWriter(threading.Thread):
    """Renders and writes the queued lines every :data:`WRITE_EVERY_SECONDS`, in one write.

    Not woken per record, as the standard ``QueueListener`` is: on a busy event loop that
    wake-up handed the GIL over for every line, and the gateway's latency got worse, not
    better. A line is written within 50 ms; what is queued when the process stops is written by
    :func:`stop_background_writer` (a killed process loses at most that much).
    """

    def __init__(self, records: queue.SimpleQueue[Queued], handler: logging.StreamHandler[Any]):
        super().__init__(name="kommune-log-writer", daemon=True)
        self.records = records
        self.handler = handler
        self._stopping = threading.Event()

    def offer(self, item: Queued) -> bool:
        """Queue ``item``; False if :data:`QUEUE_LIMIT` lines wait already (the caller then
        writes its own: memory stays bounded)."""
        if self.records.qsize() >= QUEUE_LIMIT:
            return False
        self.records.put_nowait(item)
        return True

    def run(self) -> None:
        while not self._stopping.wait(WRITE_EVERY_SECONDS):
            self.drain()
        self.drain()

    def drain(self) -> None:
        lines: list[str] = []
        while True:
            try:
                item = self.records.get_nowait()
            except queue.Empty:
                break
            line = self._take(item)
            if line is not None:
                lines.append(line + self.handler.terminator)
        if lines:
            self.write("".join(lines))

    def write(self, text: str) -> None:
        with self.handler.lock or contextlib.nullcontext():
            try:
                self.handler.stream.write(text)
                self.handler.flush()
            except Exception:  # as logging.StreamHandler.emit: report, never raise
                self.handler.handleError(logging.makeLogRecord({"msg": text}))

    def _take(self, item: Queued) -> str | None:
        """The rendered line of a record or event; a call from :func:`later` is run instead
        (None: what it logs is queued behind it)."""
        if isinstance(item, _Later):
            try:
                item.run()  # its lines follow in this same drain
            except Exception:
                self.handler.handleError(logging.makeLogRecord({"msg": repr(item.call)}))
            return None
        if isinstance(item, logging.LogRecord):
            try:
                if self.handler.filter(item):
                    return self.handler.format(item)
            except Exception:
                self.handler.handleError(item)
            return None
        method_name, event_dict = item
        formatter = self.handler.formatter
        try:
            assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
            # What ProcessorFormatter.format adds for a structlog record (and its first
            # processor removes again).
            event_dict["_record"] = None
            event_dict["_from_structlog"] = True
            rendered: Any = event_dict
            for processor in formatter.processors:
                rendered = processor(None, method_name, rendered)
            return str(rendered)
        except Exception:
            self.handler.handleError(logging.makeLogRecord({"msg": event_dict.get("event")}))
            return None

    def stop(self) -> None:
        self._stopping.set()
        self.join()


class _RecordQueueHandler(logging.handlers.QueueHandler):
    """Queues the record itself: rendering happens on the writer thread.

    The standard ``prepare`` renders the message in the caller's thread (so the record could
    be pickled); ours stays in the process, so only what would be lost on the way is taken: a
    library record gets the request context of the moment as record attributes, which
    ``ExtraAdder`` then puts into the line.
    """

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        records: queue.SimpleQueue[Queued] = queue.SimpleQueue()
        super().__init__(records)  # records and structlog events
        self.writer = _BatchWriter(records, handler)

    def enqueue(self, record: logging.LogRecord) -> None:
        if not self.writer.offer(record):  # the writer cannot keep up: the caller writes it
            self.writer.handler.handle(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if not isinstance(record.msg, dict):  # structlog's own records carry it already
            request_id = request_id_var.get()
            if request_id is not None:
                record.request_id = request_id
            traceparent = traceparent_var.get()
            if traceparent is not None:
                record.traceparent = traceparent
        return record


def _background_writer(stream: logging.StreamHandler[Any]) -> logging.Handler:
    stop_background_writer()
    handler = _RecordQueueHandler(stream)
    handler.writer.start()
    _state["writer"] = handler.writer
    return handler


def _skip_unused_record_fields() -> None:
    """Stop the standard library from collecting what no line of ours shows.

    The logging HOWTO's "Optimization" settings: the caller's file/line/function (a walk up the
    stack for every record: structlog's ``findCaller`` skips its own frames), thread, process
    and multiprocessing names. The rendered lines never had these fields; each request's access
    log line costs about a quarter less without them.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _handler_installed() -> bool:
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers)


def _quiet_uvicorn() -> None:
    """Route uvicorn's loggers to the root handler, at the root's level; ours is the access log.

    A ``uvicorn.Config(log_level=...)`` anywhere in the process sets these loggers' levels, and
    they would otherwise outlive it.
    """
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
