"""Prometheus metrics: HTTP request counters and latencies, connections the server refused.

The exposition is served on a separate listener (:class:`kommune.serve.MetricsServer`, port
``<PREFIX>_METRICS_PORT``, default public port + 1000), never on the public one.

Requests are labelled by the matched route *template* (``/api/v1/ideas/{idea_id}``), never by
the raw path, so a scan of random URLs cannot blow up the number of time series; requests that
match no route share the label ``UNMATCHED_ROUTE``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "kommune_http_requests",
    "HTTP requests handled, by route template and status code.",
    ("service", "method", "route", "status"),
)
HTTP_REQUEST_DURATION = Histogram(
    "kommune_http_request_duration_seconds",
    "Time from receiving an HTTP request until its response was sent.",
    ("service", "method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_REQUESTS_IN_PROGRESS = Gauge(
    "kommune_http_requests_in_progress",
    "HTTP requests being handled right now.",
    ("service",),
)


Metric = TypeVar("Metric", bound=MetricWrapperBase)
_children: dict[tuple[int, tuple[Any, ...]], Any] = {}


def child(metric: Metric, *labels: Any) -> Metric:
    """``metric.labels(*labels)``, remembered: ``labels()`` validates, stringifies and locks on
    every call, which showed in the profile of a proxied request. Holds as many children as
    Prometheus itself does (labels are bounded: route templates, upstreams, status codes)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*(str(label) for label in labels))
    return found


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    child(HTTP_REQUESTS, service, method, route, status).inc()
    child(HTTP_REQUEST_DURATION, service, method, route).observe(seconds)


HTTP_CONNECTIONS_REJECTED = Counter(
    "kommune_http_connections_rejected",
    "Connections the server answered and closed before or while reading a request: "
    "header_timeout, body_timeout, idle_timeout (408 or silent close), "
    "request_header_fields_too_large (431), invalid_request (400).",
    ("reason",),
)
