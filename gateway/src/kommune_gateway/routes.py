"""The declarative routing table: which path prefix belongs to which upstream service.

Services own their full paths (the gateway does not rewrite them), so a request for
``/api/v1/ideas/42`` is forwarded as ``/api/v1/ideas/42`` to the ``ideas`` upstream. The longest
prefix that covers the path by whole segments wins (``/api/v1/ideas`` never takes
``/api/v1/ideasX``); :class:`RoutingTable` is the one matcher that routing, body limits and the
OpenAPI merge all use. Every routed request needs a valid bearer token at the gateway, except the
methods a route lists in ``public_methods`` (open standards that allow anonymous reads); the
services verify the token again and decide on roles.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from kommune.prefixes import PrefixTable, covers, validate_prefix
from kommune_gateway.ratelimit import RateRule

READ_METHODS = frozenset({"GET", "HEAD"})
API_KEY_POST = READ_METHODS | {"POST"}
"""Reads, and a POST the service authenticates itself (an Open311 client app's api_key)."""


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream: str
    public_methods: frozenset[str] = field(default_factory=frozenset)
    """Methods served without a token at the gateway (the service still decides)."""
    max_body_bytes: int | None = None
    """A body limit for this prefix other than the gateway default (e.g. uploads)."""
    rate_limit: RateRule | None = None
    """Requests per window per token subject here, counted apart from the default budget."""
    anonymous_rate_limit: RateRule | None = None
    """The same for calls without a token (per client address)."""

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)

    def covers(self, path: str) -> bool:
        """``path`` is the prefix or below it (a longer route may still take it: use the table)."""
        return covers(self.prefix, path)

    def is_public(self, method: str) -> bool:
        return method.upper() in self.public_methods

    def rate_scope(self, anonymous: bool) -> tuple[str, RateRule | None]:
        """The budget a call here counts against: this route's own, or the default (None)."""
        rule = self.anonymous_rate_limit if anonymous else self.rate_limit
        return (self.prefix, rule) if rule is not None else ("default", None)


MiB = 1024 * 1024

ROUTES: tuple[Route, ...] = (
    # ideas: change agents, idea store, decision forum, innovation circles, intranet chronicle
    Route(prefix="/api/v1/ideas", upstream="ideas"),
    Route(prefix="/api/v1/meetings", upstream="ideas"),
    Route(prefix="/api/v1/chronicle", upstream="ideas"),
    Route(prefix="/api/v1/faq", upstream="ideas"),
    Route(prefix="/api/v1/departments", upstream="ideas"),
    # documents: E-Akte (files, processes, documents, versions, search, retention, e-invoices)
    # (uploads: DOCUMENTS_MAX_UPLOAD_BYTES, 512 MiB by default, plus room for the form fields)
    Route(prefix="/api/v1/documents", upstream="documents", max_body_bytes=512 * MiB + 64 * 1024),
    Route(prefix="/api/v1/fileplan", upstream="documents"),
    Route(prefix="/api/v1/files", upstream="documents"),
    Route(prefix="/api/v1/search", upstream="documents"),
    Route(prefix="/api/v1/retention", upstream="documents"),
    Route(prefix="/api/v1/invoices", upstream="documents", max_body_bytes=10 * MiB),
    Route(prefix="/api/v1/mailroom", upstream="documents", max_body_bytes=512 * MiB + 64 * 1024),
    # egov: service catalogue, applications, appointments, mailbox; Open311 GeoReport v2
    Route(prefix="/api/v1/egov", upstream="egov", max_body_bytes=25 * MiB),
    Route(prefix="/open311", upstream="egov", public_methods=READ_METHODS),
    Route(prefix="/api/v1/services", upstream="egov", public_methods=READ_METHODS),
    Route(prefix="/api/v1/applications", upstream="egov"),
    Route(prefix="/api/v1/attachments", upstream="egov", max_body_bytes=11 * MiB),
    Route(prefix="/api/v1/mailbox", upstream="egov"),
    Route(prefix="/api/v1/webhooks", upstream="egov"),
    # Open311 POST requests: authenticated by the client app's api_key (in the form) at egov,
    # not by a bearer token, so the gateway lets it through; egov answers 403 without a key.
    *(
        Route(
            prefix=f"/open311/v2/requests.{fmt}",
            upstream="egov",
            public_methods=API_KEY_POST,
            max_body_bytes=25 * MiB,  # the multipart media photo
        )
        for fmt in ("json", "xml")
    ),
    Route(prefix="/api/v1/open311", upstream="egov"),
    Route(prefix="/api/v1/appointments", upstream="egov"),
    Route(prefix="/api/v1/appointments/slots", upstream="egov", public_methods=READ_METHODS),
    Route(prefix="/api/v1/appointments/locations", upstream="egov", public_methods=READ_METHODS),
    # sensors: devices, ingestion, analytics, open data; OGC SensorThings API
    Route(prefix="/api/v1/sensors", upstream="sensors"),
    # batches of thousands of readings (the service's SENSORS_INGEST_MAX_BODY_BYTES is the same)
    Route(prefix="/api/v1/sensors/observations", upstream="sensors", max_body_bytes=16 * MiB),
    Route(prefix="/sta", upstream="sensors", public_methods=READ_METHODS),
    Route(prefix="/api/v1/waste", upstream="sensors"),
    Route(prefix="/api/v1/traffic", upstream="sensors"),
    Route(prefix="/api/v1/social", upstream="sensors"),
    # the DCAT-AP.de catalogue and its CSV/JSON datasets: for everyone
    Route(prefix="/api/v1/opendata", upstream="sensors", public_methods=READ_METHODS),
)


class RoutingTable:
    """The routes by prefix; :meth:`match` is the longest-prefix, segment-aware decision."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._table = PrefixTable((route.prefix, route) for route in self.routes)

    def match(self, path: str) -> Route | None:
        return self._table.match(path)

    def longest_first(self) -> list[Route]:
        """The routes in the order a first-match router (Starlette) must try them."""
        return [route for _, route in self._table.longest_first()]

    def upstreams(self) -> list[str]:
        """Upstream names in table order, each once."""
        return list(dict.fromkeys(route.upstream for route in self.routes))

    def body_limits(self, default: int) -> dict[str, int]:
        """Every prefix's body limit: a route without its own gets ``default``, *not* the limit of
        a shorter prefix above it (it may belong to another service)."""
        return {r.prefix: r.max_body_bytes or default for r in self.routes}


@functools.cache
def routing_table(routes: tuple[Route, ...] = ROUTES) -> RoutingTable:
    return RoutingTable(routes)


def match_route(path: str, routes: Sequence[Route] = ROUTES) -> Route | None:
    """The route with the longest prefix covering ``path``."""
    return routing_table(tuple(routes)).match(path)
