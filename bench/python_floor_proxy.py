"""The least a Python proxy can do: the bench's reference for what any Python hop costs here.

An ASGI app under the same uvicorn (httptools, uvloop) that passes each request to
``FLOOR_UPSTREAM`` with aiohttp (a general HTTP client, as the gateway used until ADR 0015,
amendment 5) and relays the answer: no auth, no rate limit, no logs, no metrics, no limits.
Whatever the gateway costs above this is its own features; what this costs above ``direct`` is
the price of a second process in Python.
Not for use anywhere but bench/bench_gateway.py.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:8101")
_DROP = frozenset({b"host", b"connection", b"keep-alive", b"transfer-encoding"})
_session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _session
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        if _session is not None:
            await _session.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if _session is None:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
        )
    headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in _DROP]
    query = scope["query_string"].decode()
    url = UPSTREAM + scope["raw_path"].decode() + (f"?{query}" if query else "")
    async with _session.request(scope["method"], url, headers=headers) as response:
        body = await response.read()
        answer = [(k, v) for k, v in response.raw_headers if k.lower() not in _DROP]
    await send({"type": "http.response.start", "status": response.status, "headers": answer})
    await send({"type": "http.response.body", "body": body})
