"""Stopping Kafka clients in bounded time, whatever the broker does.

aiokafka's ``stop()``/``close()`` talk to the broker (LeaveGroup, flushing, closing connections
gracefully). Against a broker that is slow, paused (``SIGSTOP``) or gone mid-request they wait
for the request timeout (up to 40 s) or for ever, and cancelling them half-way leaves their
background tasks (fetcher, heartbeat, sender, metadata sync, connection readers) running. Some
of their cleanup also raises ``asyncio.CancelledError`` out of ``stop()`` although nobody
cancelled the caller (the fetcher awaits the tasks it cancelled): a ``BaseException`` that
``suppress(Exception)`` lets through, which was the known CI flake.

:func:`stop_kafka_client` therefore

1. runs the graceful stop in a task of its own and waits at most ``timeout`` for it, so an
   exception of any kind raised *inside* it (``CancelledError`` included) is reported, not
   propagated; only a cancellation of the *caller* propagates;
2. if that did not finish, aborts: cancels the client's background tasks, closes its
   connections (which fails every request waiting for the broker) and waits a short grace
   period for the cancelled tasks;
3. logs what it abandoned (``kafka_client_stop_abandoned`` with the task names still running).

It never raises (except the caller's own cancellation) and returns whether the stop was clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

ABORT_GRACE_SECONDS = 1.0

_TASK_ATTRIBUTES = (
    # consumer group coordinator
    "_coordination_task",
    "_heartbeat_task",
    "_commit_refresh_task",
    "_reset_committed_task",
    # consumer fetcher
    "_fetch_task",
    # producer sender
    "_sender_task",
    # client metadata synchroniser
    "_sync_task",
)
_CHILDREN = ("_coordinator", "_fetcher", "_sender", "_client", "client", "_message_accumulator")


def _parts(client: Any) -> list[Any]:
    """The client and the aiokafka objects it owns (coordinator, fetcher, sender, client)."""
    seen: list[Any] = []
    pending = [client]
    while pending:
        obj = pending.pop()
        if obj is None or any(obj is s for s in seen):
            continue
        seen.append(obj)
        pending.extend(getattr(obj, name, None) for name in _CHILDREN)
    return seen


def _background_tasks(client: Any) -> list[asyncio.Future[Any]]:
    tasks: list[asyncio.Future[Any]] = []
    for part in _parts(client):
        for name in _TASK_ATTRIBUTES:
            task = getattr(part, name, None)
            if isinstance(task, asyncio.Future) and not task.done():
                tasks.append(task)
        pending_tasks = getattr(part, "_pending_tasks", None)
        if isinstance(pending_tasks, Iterable) and not isinstance(pending_tasks, str | bytes):
            tasks.extend(t for t in pending_tasks if isinstance(t, asyncio.Future) and not t.done())
        for conn in _connections(part):
            read_task = getattr(conn, "_read_task", None)
            if isinstance(read_task, asyncio.Future) and not read_task.done():
                tasks.append(read_task)
    return tasks


def _connections(part: Any) -> list[Any]:
    conns = getattr(part, "_conns", None)
    return list(conns.values()) if isinstance(conns, dict) else []


def _close_connections(client: Any) -> None:
    for part in _parts(client):
        for conn in _connections(part):
            try:
                conn.close(exc=ConnectionAbortedError("client aborted at shutdown"))
            except Exception as exc:  # pragma: no cover - best effort
                log.debug("kafka_connection_close_failed", error=repr(exc))


def _name(task: asyncio.Future[Any]) -> str:
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return getattr(coro, "__qualname__", task.get_name())
    return repr(task)


async def abort_kafka_client(client: Any, *, grace: float = ABORT_GRACE_SECONDS) -> list[str]:
    """Cancel the client's background tasks and close its connections; return what kept running.

    Uses aiokafka's private attributes (pinned version); an attribute that is missing is skipped.
    """
    _fail_pending_records(client)
    deadline = asyncio.get_running_loop().time() + grace
    tasks: list[asyncio.Future[Any]] = []
    while True:
        # Repeat: a task may reconnect (and start a connection reader) before it sees its
        # cancellation; closing the connections fails the requests it waits for.
        for task in _background_tasks(client):
            if not any(task is known for known in tasks):
                tasks.append(task)
            task.cancel()
        _close_connections(client)
        running = [task for task in tasks if not task.done()]
        remaining = deadline - asyncio.get_running_loop().time()
        if not running or remaining <= 0:
            break
        await asyncio.wait(running, timeout=min(0.05, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    return [_name(task) for task in tasks if not task.done()]


def _fail_pending_records(client: Any) -> None:
    """A producer's undelivered records fail now (the outbox still has their rows)."""
    from aiokafka.errors import KafkaConnectionError

    accumulator = getattr(client, "_message_accumulator", None)
    if accumulator is not None:
        try:
            accumulator.fail_all(KafkaConnectionError("producer aborted at shutdown"))
        except Exception as exc:  # pragma: no cover - best effort
            log.debug("kafka_fail_pending_failed", error=repr(exc))


async def run_bounded(what: str, operation: Callable[[], Awaitable[object]], within: float) -> bool:
    """Run ``operation()`` in a task of its own for at most ``within`` seconds; never raise.

    Returns True if it finished without an error. A timeout cancels it (waiting up to
    :data:`ABORT_GRACE_SECONDS`); errors of any kind, ``CancelledError`` raised inside included,
    are logged. Only a cancellation of the caller propagates.
    """
    task: asyncio.Task[object] = asyncio.ensure_future(operation())
    try:
        done, _ = await asyncio.wait({task}, timeout=within)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
        log.warning("shutdown_step_timed_out", what=what, timeout=within)
        if task.done() and not task.cancelled():
            task.exception()
        return False
    if task.cancelled():
        log.warning("shutdown_step_cancelled_itself", what=what)
        return False
    error = task.exception()
    if error is not None:
        log.warning("shutdown_step_failed", what=what, error=f"{type(error).__name__}: {error}")
        return False
    return True


async def stop_kafka_client(
    what: str, client: Any, *, within: float = 5.0, stop: str = "stop"
) -> bool:
    """Stop an aiokafka client (``stop`` or ``close`` method) in ``within`` seconds + a short grace.

    Returns True for a clean stop. Otherwise aborts the client (see the module docstring) and
    logs what it abandoned. Never raises, except when the caller itself is cancelled.
    """
    task: asyncio.Task[object] = asyncio.ensure_future(getattr(client, stop)())
    try:
        done, _ = await asyncio.wait({task}, timeout=within)
        if done and not task.cancelled() and task.exception() is None:
            return True
        if not done:
            task.cancel()
        left = await abort_kafka_client(client)
        await asyncio.wait({task}, timeout=ABORT_GRACE_SECONDS)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done() and not task.cancelled():
        error = task.exception()
        outcome = "finished" if error is None else f"{type(error).__name__}: {error}"
    else:
        outcome = "cancelled" if task.cancelled() else "still running"
        if not task.done():
            left.append(f"{what}.{stop}")
    log.warning(
        "kafka_client_stop_abandoned",
        what=what,
        timeout=within,
        graceful_stop=outcome if done else f"timed out ({outcome} after abort)",
        still_running=left,
    )
    return False


async def wait_for_either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return as soon as either event is set (e.g. "topics ready" or "stopping")."""
    waiters = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
