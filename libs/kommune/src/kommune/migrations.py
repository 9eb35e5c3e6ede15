"""Alembic for every service, so that each service's ``migrations/env.py`` is five lines::

    from kommune.migrations import run_migrations
    from kommune_ideas.models import metadata
    from kommune_ideas.settings import IdeasSettings

    run_migrations(metadata, IdeasSettings().database_url)

The database URL is taken from, in this order: ``config.attributes["url"]`` (set by
:func:`alembic_config`, i.e. tests, demo loaders, benchmarks), ``alembic -x url=...``,
``sqlalchemy.url`` in the ini file, and finally the URL passed in (the service's settings, i.e.
``<PREFIX>_DATABASE_URL``). Migrations run online over asyncpg, or offline (``--sql``) as a
script. Alembic's commands are synchronous; :func:`upgrade` runs them in a worker thread so that
async callers (pytest-asyncio, the demo loader) can await them.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from kommune.db import sqlalchemy_url


def _resolve_url(default: str) -> str:
    from alembic import context

    config = context.config
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or default
    )
    return sqlalchemy_url(str(url))


def _configure(metadata: MetaData, **kwargs: Any) -> None:
    from alembic import context

    context.configure(
        target_metadata=metadata,
        compare_type=True,
        transaction_per_migration=True,
        **kwargs,
    )


def _run_sync(connection: Connection, metadata: MetaData) -> None:
    from alembic import context

    _configure(metadata, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, metadata: MetaData) -> None:
    engine = async_engine_from_config(
        {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync, metadata)
    finally:
        await engine.dispose()


def _run_in_fresh_loop(url: str, metadata: MetaData) -> None:
    """``asyncio.run`` here, or in a helper thread if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async(url, metadata))
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(_run_async(url, metadata))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="alembic-migrations")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def run_migrations(metadata: MetaData, url: str) -> None:
    """The body of a service's ``env.py``: migrate ``metadata``'s database online or offline."""
    from alembic import context

    config = context.config
    if config.config_file_name is not None and "url" not in config.attributes:
        # The alembic command line: log as its ini file says. Programmatic callers (tests, demo
        # loader) keep their own logging configuration.
        from logging.config import fileConfig

        fileConfig(config.config_file_name, disable_existing_loggers=False)
    resolved = _resolve_url(url)
    if context.is_offline_mode():
        _configure(metadata, url=resolved, literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_sync(connection, metadata)
        return
    _run_in_fresh_loop(resolved, metadata)


def alembic_config(ini_path: str | Path, url: str | None = None) -> Any:
    """An ``alembic.config.Config`` for a service's ``alembic.ini``, optionally for ``url``."""
    from alembic.config import Config

    config = Config(str(ini_path))
    if url is not None:
        config.attributes["url"] = url
    return config


async def upgrade(ini_path: str | Path, url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (awaitable; runs in a worker thread)."""
    from alembic import command

    config = alembic_config(ini_path, url)
    await asyncio.to_thread(command.upgrade, config, revision)


async def downgrade(ini_path: str | Path, url: str, revision: str = "base") -> None:
    from alembic import command

    config = alembic_config(ini_path, url)
    await asyncio.to_thread(command.downgrade, config, revision)
