"""Cross-service tests: ordering for the one test that restarts the shared servers."""

from __future__ import annotations

import pytest

RESTARTS_SERVERS = "restarts_servers"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{RESTARTS_SERVERS}: stops and starts the project-local PostgreSQL and Kafka",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that restart the servers run first, before any session fixture holds a connection,
    a relay or a consumer on them: those would see the restart as an outage mid-test."""
    items.sort(key=lambda item: item.get_closest_marker(RESTARTS_SERVERS) is None)
