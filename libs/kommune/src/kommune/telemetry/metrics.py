"""Prometheus metrics: HTTP request counters and latencies, and the ``/metrics`` endpoint.

Requests are labelled by the matched route *template* (``/api/v1/ideas/{idea_id}``), never by
the raw path, so a scan of random URLs cannot blow up the number of time series; requests that
match no route share the label ``UNMATCHED_ROUTE``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

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


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(service, method, route).observe(seconds)


metrics_router = APIRouter(include_in_schema=False)


@metrics_router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
