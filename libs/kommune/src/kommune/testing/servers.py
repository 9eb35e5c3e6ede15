"""Apps under a real uvicorn server on a loopback port, in the test's own event loop.

Tests that need real HTTP between processes' worth of components (gateway → service, services →
the gateway's dev issuer) run each app this way::

    async with RunningServer(app) as server:
        response = await httpx.AsyncClient().get(f"{server.url}/readyz")

Pass ``port=`` when two servers must know each other's address before either starts.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A loopback port that is free now (the kernel's choice; taken again by the server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningServer:
    """``app`` (lifespan included) served by uvicorn on ``127.0.0.1:port``."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> RunningServer:
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
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)

    async def __aenter__(self) -> RunningServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
