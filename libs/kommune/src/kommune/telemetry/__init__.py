"""Telemetry: request ids and trace context, structured logs, Prometheus metrics."""
