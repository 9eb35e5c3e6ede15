"""Demo data that survives real use: every demo record has a fixed identity of its own.

``make up`` (and every ``services.sh start <name>``) loads each service's demo data. People
then use the platform: they post records with the same titles, edit and delete demo records.
A loader that recognised its records by a title or any other field users can set would find
two, or none, and fail or double them. So a demo record's primary key is derived from a demo
key that only the loader knows: ``uuid5(DEMO_NAMESPACE, "<service>/<table>/<key>")``. Loading is
then idempotent whatever happened meanwhile:

* a demo record that exists (by that id) is left as it is, **edits included**;
* a demo record a user **deleted comes back** on the next load (the demo set is complete
  after every ``make up``; there is no tombstone to keep);
* records users added never match a demo id, whatever their titles.

Each record is created in a transaction of its own, after a transaction-scoped advisory lock on
its id, so two loaders running at once (a restarted service while ``make up`` loads) create it
once. A demo record whose *business key* a user took first (a unique code or question) is
skipped: the :class:`~kommune.errors.Conflict` the service raises is the answer "it is there".

A service's ``demo.py`` (run by ``services.sh start`` as ``python -m kommune_<name>.demo``)::

    async def load(loader: DemoLoader) -> None:
        await loader.ensure(EService, "passport", create_passport_service)

    if __name__ == "__main__":
        run_demo(EgovSettings, load, __file__)

where ``create_passport_service(session, record_id)`` creates the record (and what belongs to
it) through the service layer with ``id=record_id``, so history and outbox events are what real
use would have produced.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kommune.db import create_engine, create_sessionmaker, transaction
from kommune.errors import Conflict
from kommune.migrations import upgrade
from kommune.settings import ServiceSettings

log = structlog.get_logger(__name__)

DEMO_NAMESPACE = uuid.UUID("5d3c1f0e-7a52-4c1b-9d1e-6b0f8e4a2c7d")
"""Namespace of every demo id (a constant: changing it would double every demo record)."""

Create = Callable[[AsyncSession, uuid.UUID], Awaitable[Any]]


def demo_id(service: str, table: str, key: str) -> uuid.UUID:
    """The fixed id of the demo record ``key`` in ``table`` of ``service``."""
    return uuid.uuid5(DEMO_NAMESPACE, f"{service}/{table}/{key}")


def _lock_key(record_id: uuid.UUID) -> int:
    """A signed 64-bit advisory lock key from the id."""
    return int.from_bytes(record_id.bytes[:8], "big", signed=True)


class DemoLoader:
    """Creates a service's demo records once each, by their fixed ids; counts what it did."""

    def __init__(self, service: str, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.service = service
        self.sessionmaker = sessionmaker
        self.created: Counter[str] = Counter()
        self.kept: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def id(self, model: type[Any], key: str) -> uuid.UUID:
        return demo_id(self.service, model.__tablename__, key)

    async def ensure(self, model: type[Any], key: str, create: Create) -> uuid.UUID | None:
        """The demo record's id; ``create(session, id)`` runs only if no row has that id.

        ``None`` if the record could not be created because users took its business key.
        """
        table = model.__tablename__
        record_id = self.id(model, key)
        primary_key = model.__mapper__.primary_key[0]
        try:
            async with transaction(self.sessionmaker) as session:
                await session.execute(select(func.pg_advisory_xact_lock(_lock_key(record_id))))
                found = await session.execute(select(primary_key).where(primary_key == record_id))
                if found.first() is not None:
                    self.kept[table] += 1
                    return record_id
                await create(session, record_id)
        except Conflict as conflict:
            log.info("demo_record_skipped", table=table, key=key, reason=conflict.detail)
            self.skipped[table] += 1
            return None
        self.created[table] += 1
        return record_id

    def summary(self) -> str:
        """``ideas +0 =6, faq +1 =4 -1``: created, already there, skipped (business key taken)."""
        tables = sorted(set(self.created) | set(self.kept) | set(self.skipped))
        parts = []
        for table in tables:
            part = f"{table} +{self.created[table]} ={self.kept[table]}"
            if self.skipped[table]:
                part += f" -{self.skipped[table]}"
            parts.append(part)
        return ", ".join(parts) or "nothing"


@asynccontextmanager
async def demo_loader(settings: ServiceSettings) -> AsyncIterator[DemoLoader]:
    """A loader on the service's database (a small engine of its own, disposed at the end)."""
    engine = create_engine(
        settings.database_url, pool_size=2, application_name=f"{settings.service_name}-demo"
    )
    try:
        yield DemoLoader(settings.service_name, create_sessionmaker(engine))
    finally:
        await engine.dispose()


def alembic_ini(package_file: str) -> Path:
    """``KOMMUNE_ALEMBIC_INI`` (the images set it), else ``services/<name>/alembic.ini`` of the
    checkout that ``package_file`` (a module of ``src/kommune_<name>/``) belongs to."""
    configured = os.environ.get("KOMMUNE_ALEMBIC_INI")
    if configured:
        return Path(configured)
    return Path(package_file).resolve().parents[2] / "alembic.ini"


async def load_demo_data(
    settings: ServiceSettings,
    load: Callable[[DemoLoader], Awaitable[None]],
    *,
    alembic: Path | None = None,
) -> DemoLoader:
    """Migrate (unless ``alembic`` is ``None``), then run ``load``; returns what it did."""
    if alembic is not None:
        await upgrade(alembic, settings.database_url)
    async with demo_loader(settings) as loader:
        await load(loader)
    return loader


def run_demo(
    settings_class: type[ServiceSettings],
    load: Callable[[DemoLoader], Awaitable[None]],
    package_file: str,
    argv: list[str] | None = None,
) -> None:
    """``python -m kommune_<name>.demo [--no-migrate]``: migrate, load, print the summary."""
    parser = argparse.ArgumentParser(description="Load the demo data (idempotent).")
    parser.add_argument("--no-migrate", action="store_true", help="skip alembic upgrade head")
    args = parser.parse_args(argv)
    settings = settings_class()
    alembic = None if args.no_migrate else alembic_ini(package_file)
    loader = asyncio.run(load_demo_data(settings, load, alembic=alembic))
    print(f"{settings.service_name} demo data (created +, there =, skipped -): {loader.summary()}")
