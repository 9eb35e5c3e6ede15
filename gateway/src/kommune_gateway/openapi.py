"""One OpenAPI document for the whole platform, merged from the services' own documents.

Each upstream's ``/openapi.json`` is fetched concurrently, every call with its own error
handling (one service down must not hide the others: ``asyncio.TaskGroup`` would cancel the
siblings on the first failure, so failures are caught per call). Only paths the routing table
actually sends to that upstream are kept. Components with the same name and the same definition
are shared; a name used for *different* definitions (compared after rewriting their own
``$ref``s) is prefixed with the upstream's name (``Documents_Status``) and every ``$ref`` of that
upstream is rewritten. The result is cached for
a few seconds; ``x-upstreams`` says which services contributed.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import structlog

from kommune_gateway.proxy import UpstreamPool
from kommune_gateway.routes import Route, RoutingTable

log = structlog.get_logger(__name__)

COMPONENT_REF = "#/components/"
BEARER_SCHEME = "bearerAuth"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Document = dict[str, Any]


class OpenAPIAggregator:
    def __init__(
        self,
        pool: UpstreamPool,
        routes: Sequence[Route],
        *,
        title: str,
        version: str,
        description: str = "",
        server_url: str | None = None,
        own_document: Callable[[], Document] | None = None,
        cache_seconds: float = 10.0,
        fetch_timeout: float = 5.0,
    ) -> None:
        self._pool = pool
        self._table = RoutingTable(routes)
        self._title = title
        self._version = version
        self._description = description
        self._server_url = server_url
        self._own_document = own_document
        self._cache_seconds = cache_seconds
        self._fetch_timeout = fetch_timeout
        self._cached: tuple[float, Document] | None = None
        self._lock = asyncio.Lock()

    def upstream_names(self) -> list[str]:
        return self._table.upstreams()

    async def document(self) -> Document:
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
                return cached[1]
            document = await self._build()
            self._cached = (time.monotonic(), document)
            return document

    async def _build(self) -> Document:
        names = self.upstream_names()
        fetched = await asyncio.gather(*(self._fetch(name) for name in names))
        sources: list[tuple[str, Document]] = []
        if self._own_document is not None:
            sources.append(("gateway", self._own_document()))
        status: dict[str, str] = {}
        for name, result in zip(names, fetched, strict=True):
            if isinstance(result, dict):
                sources.append((name, self._only_routed_paths(name, result)))
                status[name] = "ok"
            else:
                status[name] = result
        return merge_documents(
            sources,
            title=self._title,
            version=self._version,
            description=self._description,
            server_url=self._server_url,
            public=self._public_operations(),
            upstream_status=status,
        )

    async def _fetch(self, name: str) -> Document | str:
        """The upstream's document, or a short reason why there is none (never raises)."""
        try:
            client = self._pool.client(name)
            response = await client.get("/openapi.json", timeout=self._fetch_timeout)
            response.raise_for_status()
            document = response.json()
            if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
                return "invalid document"
            return document
        except httpx.HTTPStatusError as exc:
            return f"http {exc.response.status_code}"
        except Exception as exc:
            log.info("openapi_upstream_unavailable", upstream=name, error=type(exc).__name__)
            return "unavailable"

    def _only_routed_paths(self, name: str, document: Document) -> Document:
        """Only the paths the routing table sends to ``name`` (the same matcher as routing)."""
        return {**document, "paths": routed_paths(self._table, name, document)}

    def _public_operations(self) -> Callable[[str, str], bool]:
        table = self._table

        def is_public(path: str, method: str) -> bool:
            route = table.match(path)
            return route is not None and route.is_public(method)

        return is_public


def routed_paths(table: RoutingTable, upstream: str, document: Document) -> dict[str, Any]:
    """The path items of ``document`` whose path the table routes to ``upstream``."""
    paths: dict[str, Any] = document.get("paths", {})
    return {
        path: item
        for path, item in paths.items()
        if (route := table.match(path)) is not None and route.upstream == upstream
    }


def merge_documents(
    sources: Sequence[tuple[str, Document]],
    *,
    title: str,
    version: str,
    description: str = "",
    server_url: str | None = None,
    public: Callable[[str, str], bool] | None = None,
    upstream_status: dict[str, str] | None = None,
) -> Document:
    """Merge OpenAPI 3.x documents (``(name, document)`` in priority order) into one."""
    merged: Document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": {},
        "components": {
            "securitySchemes": {
                BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "tags": [],
        "security": [{BEARER_SCHEME: []}],
    }
    if server_url:
        merged["servers"] = [{"url": server_url}]
    if upstream_status is not None:
        merged["x-upstreams"] = upstream_status
    components: dict[str, dict[str, Any]] = merged["components"]
    tag_names: set[str] = set()

    for name, original in sources:
        document = copy.deepcopy(original)
        renames = _plan_renames(name, document.get("components", {}), components)
        if renames:
            document = _rewrite_refs(document, renames)
        for section, entries in document.get("components", {}).items():
            if not isinstance(entries, dict):
                continue
            target = components.setdefault(section, {})
            for key, value in entries.items():
                new_key = renames.get((section, str(key)), str(key))
                target.setdefault(new_key, value)
        for path, item in document.get("paths", {}).items():
            if path in merged["paths"]:
                log.warning("openapi_path_conflict", path=path, upstream=name)
                continue
            merged["paths"][path] = item
            if public is not None and isinstance(item, dict):
                for method, operation in item.items():
                    public_operation = (
                        method in HTTP_METHODS
                        and isinstance(operation, dict)
                        and public(path, method)
                    )
                    if public_operation:
                        # Anonymous allowed; a token is still accepted.
                        operation["security"] = [{}, {BEARER_SCHEME: []}]
        tagged = _tag_operations(name, merged["paths"], document.get("paths", {}))
        if tagged and name not in tag_names:
            tag_names.add(name)
            description = SERVICE_TAGS.get(name, f"The {name} service.")
            merged["tags"].append({"name": name, "description": description})
    return merged


SERVICE_TAGS = {
    "ideas": "Staff idea management, decision forum, innovation circles, intranet chronicle.",
    "documents": "Electronic records (E-Akte): files, processes, documents, retention, e-invoices.",
    "egov": "Citizen e-services: catalogue, applications, appointments, mailbox, Open311.",
    "sensors": "Smart city: devices, readings, analytics, open data, OGC SensorThings API.",
    "gateway": "The gateway's own endpoints.",
}
"""One top-level tag per service; the services' own tags stay on each operation as
``x-service-tags`` (their grouping inside the service)."""


def _tag_operations(service: str, merged_paths: dict[str, Any], paths: dict[str, Any]) -> int:
    """Tag every operation of ``paths`` that made it into the merge with ``service`` only."""
    count = 0
    for path in paths:
        item = merged_paths.get(path)
        if not isinstance(item, dict) or item is not paths[path]:
            continue  # taken by an earlier source (conflict) or not a path item
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                own = [tag for tag in operation.get("tags", []) or [] if tag != service]
                if own:
                    operation["x-service-tags"] = own
                operation["tags"] = [service]
                count += 1
    return count


def _plan_renames(
    upstream: str, incoming: dict[str, Any], existing: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], str]:
    """``(section, name) → new name`` for components that clash with a different definition.

    Definitions are compared *after* their ``$ref``s are rewritten with the renames found so
    far, until nothing changes: a ``Page`` whose text equals the other service's ``Page`` but
    refers to a renamed ``Status`` means something else, and is renamed too.
    """
    prefix = upstream[:1].upper() + upstream[1:]
    renames: dict[tuple[str, str], str] = {}
    changed = True
    while changed:
        changed = False
        for section, entries in incoming.items():
            if not isinstance(entries, dict):
                continue
            taken = existing.get(section, {})
            for key, value in entries.items():
                if (section, key) in renames or key not in taken:
                    continue
                if taken[key] == _rewrite_refs(value, renames):
                    continue
                used = set(taken) | set(entries) | set(renames.values())
                new_key = f"{prefix}_{key}"
                suffix = 2
                while new_key in used:
                    new_key = f"{prefix}_{key}_{suffix}"
                    suffix += 1
                renames[(section, key)] = new_key
                changed = True
    return renames


def _rewrite_refs(node: Any, renames: dict[tuple[str, str], str]) -> Any:
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(COMPONENT_REF):
                section, _, name = value[len(COMPONENT_REF) :].partition("/")
                new_name = renames.get((section, name))
                result[key] = f"{COMPONENT_REF}{section}/{new_name}" if new_name else value
            else:
                result[key] = _rewrite_refs(value, renames)
        return result
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node
