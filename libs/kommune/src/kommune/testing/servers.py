"""Apps under a real uvicorn server on a loopback port, in the test's own event loop.

Tests that need real HTTP between processes' worth of components (gateway → service, services →
the gateway's dev issuer) run each app this way::

    async with RunningServer(app) as server:
        response = await httpx.AsyncClient().get(f"{server.url}/readyz")

The server is configured exactly as :mod:`kommune.serve` configures it in production (the edge
protocol with the app's :class:`~kommune.serve.ServerLimits`, or ``limits=`` to override them);
``metrics=True`` also starts the separate metrics listener (``server.metrics_url``). Pass
``port=`` when two servers must know each other's address before either starts.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from kommune.serve import MetricsServer, ServerLimits, server_config


def free_port() -> int:
    """A loopback port that is free now (the kernel's choice; taken again by the server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningServer:
    """``app`` (lifespan included) served by uvicorn on ``127.0.0.1:port``."""

    def __init__(
        self,
        app: ASGIApp,
        port: int | None = None,
        *,
        limits: ServerLimits | None = None,
        metrics: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = server_config(
            app, host="127.0.0.1", port=self.port, limits=limits, timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.metrics = MetricsServer("127.0.0.1", 0) if metrics else None
        self._task: asyncio.Task[None] | None = None

    @property
    def metrics_url(self) -> str:
        assert self.metrics is not None, "started without metrics=True"
        return f"http://127.0.0.1:{self.metrics.port}/metrics"

    async def start(self) -> RunningServer:
        if self.metrics is not None:
            self.metrics.start()
        self._task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(30):
            while not self.server.started:
                if self._task.done():
                    self._task.result()  # start-up failed: raise its error
                    raise RuntimeError(f"uvicorn on port {self.port} stopped during start-up")
                await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            if self._task is not None:
                await asyncio.wait_for(self._task, timeout=15)
        finally:
            if self.metrics is not None:
                await asyncio.to_thread(self.metrics.stop)

    async def __aenter__(self) -> RunningServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def raw_exchange(
    port: int, *parts: bytes, pause: float = 0.0, read_timeout: float = 10.0
) -> tuple[bytes, float]:
    """Send ``parts`` on a raw socket (``pause`` s apart), read until the server closes.

    Returns everything received and the seconds from connect to the close.
    """
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = loop.time()
    try:
        for index, part in enumerate(parts):
            if index and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=read_timeout)
        return data, loop.time() - start
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response."""
    return int(response.split(b" ", 2)[1])
