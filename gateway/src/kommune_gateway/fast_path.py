"""The proxied requests' way past FastAPI: its own layers, routing and endpoint machinery.

A proxied GET spent a large part of the gateway's CPU in FastAPI and Starlette around the proxy
itself: the framework's outer layers (server errors, exception telemetry, its body limit), route
matching over every registered route, ``Request`` construction, dependency solving, exception
wrappers (bench/bench_gateway.py --profile; ADR 0015, amendments 1 and 3). So the gateway's
FastAPI application (:class:`GatewayApp`) puts :class:`ProxyEdge` in front of all of that: a
request whose path belongs to a proxy route and whose method the proxy serves goes to the
:class:`~kommune_gateway.proxy_endpoint.ProxyEndpoint` wrapped in *the application's own
middleware* (CORS, request id and trace, metrics, access log, body limits: the same classes and
settings, built from ``app.user_middleware``); everything else (the gateway's own routes,
unknown paths, other methods, lifespan) goes to FastAPI unchanged.

What the router did for a proxied request is done here too: ``scope["route"]`` is the Starlette
route the router would have matched, so the metric label stays the route template.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from kommune_gateway.routes import RoutingTable


@dataclass(frozen=True)
class FastPath:
    """What :class:`ProxyEdge` needs to know about the proxy routes (see its docstring)."""

    table: RoutingTable
    endpoint: ASGIApp
    routes: Mapping[str, tuple[BaseRoute, BaseRoute]]
    methods: Collection[str]


class GatewayApp(FastAPI):
    """FastAPI, with :class:`ProxyEdge` outermost once ``fast_path`` is set."""

    fast_path: FastPath | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.fast_path is None:
            return stack
        proxy = self.fast_path.endpoint
        for cls, args, kwargs in reversed(self.user_middleware):
            proxy = cls(proxy, *args, **kwargs)
        return ProxyEdge(stack, proxy=proxy, fast_path=self.fast_path, router_routes=self.routes)


class ProxyEdge:
    """Send proxied requests to ``proxy``, all others to ``app`` (see the module docstring).

    ``fast_path.routes`` maps a route prefix to the two Starlette routes registered for it (the
    prefix itself, and ``prefix/{path:path}``); ``router_routes`` is the application's route
    list, read on the first request: a non-proxy route registered *before* the proxy routes that
    matches a path of a proxy prefix keeps taking that path, exactly as the router's first-match
    order decides.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        proxy: ASGIApp,
        fast_path: FastPath,
        router_routes: list[BaseRoute],
    ) -> None:
        self.app = app
        self.proxy = proxy
        self.table = fast_path.table
        self.routes = dict(fast_path.routes)
        self.methods = frozenset(fast_path.methods)
        self._router_routes = router_routes
        self._shadowing: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._proxy_route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        await self.proxy(scope, receive, send)

    def _proxy_route(self, scope: Scope) -> BaseRoute | None:
        if scope["method"] not in self.methods or scope.get("root_path"):
            return None  # other methods (405) and mounted apps: the router decides
        path: str = scope["path"]
        route = self.table.match(path)
        if route is None:
            return None
        if self._shadowed(scope):
            return None
        exact, below = self.routes[route.prefix]
        return exact if path == route.prefix else below

    def _shadowed(self, scope: Scope) -> bool:
        if self._shadowing is None:
            self._shadowing = self._routes_before_the_proxy()
        return any(r.matches(scope)[0] is Match.FULL for r in self._shadowing)

    def _routes_before_the_proxy(self) -> list[BaseRoute]:
        """The application's own routes the router tries before the first proxy route and whose
        literal beginning could reach a proxy prefix (usually none)."""
        proxy_routes = {id(r) for pair in self.routes.values() for r in pair}
        before: list[BaseRoute] = []
        for route in self._router_routes:
            if id(route) in proxy_routes:
                break
            literal = _literal_start(route)
            if self.table.match(literal or "/") is not None or any(
                prefix.startswith(literal + "/") or not literal for prefix in self.routes
            ):
                before.append(route)
        return before


def _literal_start(route: BaseRoute) -> str:
    """The fixed beginning of the paths ``route`` can match ("" when unknown: any path)."""
    path = getattr(route, "path", None)
    if path is None:  # FastAPI's lazily included router: its include prefix
        path = getattr(getattr(route, "include_context", None), "prefix", "")
    return str(path).split("{", 1)[0].rstrip("/")
