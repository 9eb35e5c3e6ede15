"""The proxied requests' way past FastAPI's routing and endpoint machinery.

A proxied GET spent about a quarter of the gateway's CPU in FastAPI and Starlette between the
middleware and the proxy endpoint (route matching over every registered route, ``Request``
construction, dependency solving, the exception-handling wrappers; bench/bench_gateway.py
--profile, ADR 0015). :class:`ProxyFastPath` is pure ASGI middleware placed *inside* the shared
runtime's middleware (request id, traceparent, metrics, access log, body limits all still apply)
and *outside* the router: a request whose path belongs to a proxy route and whose method the
proxy serves goes straight to the same endpoint function the router would call; everything
else (the gateway's own routes, unknown paths, other methods) goes on to FastAPI unchanged.

What the router did for a proxied request is done here too: ``scope["route"]`` is the
Starlette route the router would have matched (the metric label stays the route template), and
an exception becomes the response of the handler the application registered for its class
(problem JSON), looked up the way Starlette's ``ExceptionMiddleware`` does. Exceptions without
a handler propagate to the request-context middleware (a logged 500 problem), as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from kommune_gateway.routes import RoutingTable

Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Any]


class ProxyFastPath:
    """Serve the proxy routes without the router (see the module docstring).

    ``routes`` maps a route prefix to the two Starlette routes registered for it (the prefix
    itself, and ``prefix/{path:path}``); ``router_routes`` is the application's route list, read
    on the first request (after every route was added): a non-proxy route registered *before*
    the proxy routes that matches a path of a proxy prefix keeps taking that path, exactly as
    the router's first-match order decides.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        table: RoutingTable,
        endpoint: Endpoint,
        routes: Mapping[str, tuple[BaseRoute, BaseRoute]],
        methods: Collection[str],
        exception_handlers: Mapping[Any, ExceptionHandler],
        router_routes: list[BaseRoute],
    ) -> None:
        self.app = app
        self.table = table
        self.endpoint = endpoint
        self.routes = dict(routes)
        self.methods = frozenset(methods)
        self.exception_handlers = exception_handlers
        self._router_routes = router_routes
        self._shadowing: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._proxy_route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

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

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The registered handler for ``exc`` (status code first for HTTP exceptions, then the
        class hierarchy), except the catch-all ``Exception``/500 one, which Starlette runs
        outside all middleware; the request-context middleware answers those."""
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None


def _literal_start(route: BaseRoute) -> str:
    """The fixed beginning of the paths ``route`` can match ("" when unknown: any path)."""
    path = getattr(route, "path", None)
    if path is None:  # FastAPI's lazily included router: its include prefix
        path = getattr(getattr(route, "include_context", None), "prefix", "")
    return str(path).split("{", 1)[0].rstrip("/")
