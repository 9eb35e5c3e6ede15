"""The declarative routing table: which path prefix belongs to which upstream service.

Services own their full paths (the gateway does not rewrite them), so a request for
``/api/v1/ideas/42`` is forwarded as ``/api/v1/ideas/42`` to the ``ideas`` upstream. The longest
matching prefix wins. Every routed request needs a valid bearer token at the gateway, except the
methods a route lists in ``public_methods`` (open standards that allow anonymous reads); the
services verify the token again and decide on roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream: str
    public_methods: frozenset[str] = field(default_factory=frozenset)
    """Methods served without a token at the gateway (the service still decides)."""
    max_body_bytes: int | None = None
    """A body limit for this prefix other than the gateway default (e.g. uploads)."""

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError(f"route prefix must start and not end with '/': {self.prefix!r}")

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def is_public(self, method: str) -> bool:
        return method.upper() in self.public_methods


MiB = 1024 * 1024

ROUTES: tuple[Route, ...] = (
    # ideas: change agents, idea store, decision forum, innovation circles, intranet chronicle
    Route(prefix="/api/v1/ideas", upstream="ideas"),
    Route(prefix="/api/v1/meetings", upstream="ideas"),
    Route(prefix="/api/v1/chronicle", upstream="ideas"),
    Route(prefix="/api/v1/faq", upstream="ideas"),
    Route(prefix="/api/v1/departments", upstream="ideas"),
    # documents: E-Akte (files, processes, documents, versions, search, retention, e-invoices)
    Route(prefix="/api/v1/documents", upstream="documents", max_body_bytes=100 * MiB),
    # egov: service catalogue, applications, appointments, mailbox; Open311 GeoReport v2
    Route(prefix="/api/v1/egov", upstream="egov", max_body_bytes=25 * MiB),
    Route(prefix="/open311", upstream="egov", public_methods=READ_METHODS),
    # sensors: devices, ingestion, analytics, open data; OGC SensorThings API
    Route(prefix="/api/v1/sensors", upstream="sensors"),
    Route(prefix="/sta", upstream="sensors"),
)


def match_route(path: str, routes: Sequence[Route] = ROUTES) -> Route | None:
    """The route with the longest prefix matching ``path``."""
    best: Route | None = None
    for route in routes:
        if route.matches(path) and (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    return best


def body_limits(routes: Sequence[Route]) -> dict[str, int]:
    return {r.prefix: r.max_body_bytes for r in routes if r.max_body_bytes is not None}
