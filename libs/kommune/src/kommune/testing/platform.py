"""The platform as a user meets it: the gateway and services as real HTTP servers in one process.

Each app is a uvicorn server on a free loopback port (:class:`~kommune.testing.servers.
RunningServer`); each service gets a fresh database migrated with its real migrations and its
outbox recorded (:func:`~kommune.testing.contracts.record_outbox`); events go through the real
relay into the real broker. The suites that need the whole platform (``tests/e2e`` with the
gateway's dev issuer, ``tests/keycloak`` with a real Keycloak realm) differ only in the settings
they pass here, above all the identity settings.

This module knows no service: the suites describe theirs with :class:`AppUnderTest`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI

from kommune.migrations import upgrade
from kommune.testing.contracts import check_outbox, record_outbox
from kommune.testing.infra import CreateDatabase
from kommune.testing.servers import RunningServer, free_port


class _Settings(Protocol):
    @classmethod
    def model_validate(cls, obj: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class AppUnderTest:
    """One app of the platform: how to build it from its settings, and its migrations."""

    name: str
    """``gateway`` or the service name (``ideas``, ``egov``, ...): the gateway's upstream name."""
    create_app: Callable[[Any], FastAPI]
    settings_type: type[_Settings]
    alembic_ini: Path | None = None
    """The service's migrations (``None``: the app has no database of its own)."""


TOPIC_PREFIX = "KOMMUNE_KAFKA_TOPIC_PREFIX"

Identity = Callable[[str, str], Mapping[str, Any]]
"""``identity(app_name, gateway_url)`` → the settings that make the app trust the issuer."""


@dataclass(frozen=True, slots=True)
class RunningPlatform:
    gateway_url: str
    urls: Mapping[str, str]
    """Each service's own base URL (called directly, not through the gateway)."""
    database_urls: Mapping[str, str]
    """Each app's own database (the gateway's too: idempotency records, rate-limit counters)."""
    servers: Mapping[str, RunningServer]
    """Each app's server, the gateway's too (a test may stop one: a killed upstream)."""
    topic_prefix: str
    """This platform's topic namespace (for probes and events a test produces itself)."""


@asynccontextmanager
async def running_platform(
    create_database: CreateDatabase,
    *,
    gateway: AppUnderTest,
    services: Sequence[AppUnderTest],
    common: Mapping[str, Any],
    identity: Identity,
    gateway_settings: Mapping[str, Any] | None = None,
    undeployed: Sequence[str] = (),
    label: str = "platform",
) -> AsyncIterator[RunningPlatform]:
    """Start the gateway and ``services``; on exit stop them and check every event they wrote.

    ``common`` goes to every app (environment, broker, topic namespace, ...); the gateway routes
    to each service's server, and to nothing for the ``undeployed`` upstreams (their routes
    answer 503).

    The platform gets a topic namespace of its own inside the one ``common`` names
    (``<prefix><label>-<random>.``): its new consumer groups read their topics from the
    beginning, and in a shared namespace they would take in what other platforms and service
    suites of the session produced (a sensors writer stored their readings under its own
    datastream ids).
    """
    topic_prefix = f"{common.get(TOPIC_PREFIX, '')}{label}-{uuid.uuid4().hex[:6]}."
    common = {**common, TOPIC_PREFIX: topic_prefix}
    ports = {app.name: free_port() for app in (gateway, *services)}
    gateway_url = f"http://127.0.0.1:{ports[gateway.name]}"
    databases: dict[str, str] = {}
    for app in (gateway, *services):
        if app.alembic_ini is not None:
            url = await create_database(f"{label}_{app.name}")
            await upgrade(app.alembic_ini, url)
            if app is not gateway:  # the gateway writes no events
                await record_outbox(url)
            databases[app.name] = url
    gateway_values = {
        **common,
        **identity(gateway.name, gateway_url),
        **({"database_url": databases[gateway.name]} if gateway.name in databases else {}),
        "public_base_url": gateway_url,
        **{f"upstream_{s.name}": f"http://127.0.0.1:{ports[s.name]}" for s in services},
        **{f"upstream_{name}": "" for name in undeployed},
        **(gateway_settings or {}),
    }
    apps = {gateway.name: gateway.create_app(gateway.settings_type.model_validate(gateway_values))}
    for service in services:
        values = {
            **common,
            **identity(service.name, gateway_url),
            "consumer_group_prefix": f"{label}-{service.name}-{uuid.uuid4().hex[:8]}",
            # Links in answers point at the gateway, as in production.
            "public_base_url": gateway_url,
        }
        if service.name in databases:
            values["database_url"] = databases[service.name]
        apps[service.name] = service.create_app(service.settings_type.model_validate(values))
    async with AsyncExitStack() as stack:
        servers = {
            name: await stack.enter_async_context(RunningServer(app, ports[name]))
            for name, app in apps.items()
        }
        yield RunningPlatform(
            gateway_url=servers[gateway.name].url,
            urls={s.name: servers[s.name].url for s in services},
            database_urls=databases,
            servers=servers,
            topic_prefix=topic_prefix,
        )
    # Every event the platform wrote during these tests keeps its contract.
    for service in services:
        if service.name in databases:
            await check_outbox(databases[service.name])
