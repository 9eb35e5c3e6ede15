"""Async SQLAlchemy engine, per-service metadata and the unit of work (one session per request).

The session is committed or rolled back in exactly one place, :func:`unit_of_work`, a dependency
with ``scope="function"`` so that the commit happens *before* the response is sent: a failing
commit becomes an error response instead of a 201 for data that was never stored.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A fresh ``MetaData`` with the platform's constraint naming convention.

    Every service has its own declarative base holding its own metadata, so that the table
    names of different services (``comments``, ``outbox``) never meet, even when several
    services are loaded into one process (end-to-end tests)::

        class Base(DeclarativeBase):
            metadata = new_metadata()

    The outbox and inbox tables are added to it with
    :func:`kommune.events.tables.add_event_tables`.
    """
    return MetaData(naming_convention=NAMING_CONVENTION)


def asyncpg_dsn(url: str) -> str:
    """The same URL as plain ``postgresql://`` for asyncpg, psql and LISTEN connections."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """The same URL with the asyncpg driver, whichever form it was given in."""
    if url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+asyncpg://", 1)
    if url.startswith("postgres://"):
        return url.replace("postgres://", "postgresql+asyncpg://", 1)
    return url


PING_WHEN_IDLE_FOR = 10.0
"""Seconds a pooled connection may sit unused before its next checkout pings the server."""
POOL_RECYCLE = 1800
"""Seconds after which a pooled connection is replaced by a new one (bounds its lifetime)."""
_LAST_CHECKIN = "kommune_last_checkin"


def create_engine(
    url: str, *, pool_size: int = 10, application_name: str = "kommune"
) -> AsyncEngine:
    """The service's engine; dead pooled connections are replaced at checkout.

    Not ``pool_pre_ping=True``: with asyncpg, SQLAlchemy's pre-ping is three round trips on
    *every* checkout (``BEGIN``, an empty statement, ``ROLLBACK``, kept for pgbouncer), i.e. every
    request paid them before its own ``BEGIN``. ``bench/bench_ideas_queries.py`` measured
    ≈ 0.25-0.3 ms of a 2.7 ms list request for them. Instead (:class:`_CheckOnCheckout`):

    * A connection whose socket the server closed (restart, failover, ``pg_terminate_backend``,
      ``idle_session_timeout``, pgbouncer) is known to asyncpg as closed without any round trip;
      it is replaced at checkout. This is the same test SQLAlchemy's asyncpg dialect uses to
      decide that an error was a disconnect (``is_disconnect`` → ``is_closed()``).
    * A connection unused for more than :data:`PING_WHEN_IDLE_FOR` seconds is pinged first,
      because a connection can also die silently (a NAT or firewall dropping idle flows); that is
      the pre-ping, but only where it can find something. Under load nothing is pinged.
    * ``pool_recycle`` bounds a connection's lifetime (server-side caches, rebalancing after a
      failover).

    Statements are prepared once per connection: the asyncpg dialect keeps 100 prepared
    statements per connection by default, so after warm-up a list request is ``BEGIN``, one
    Bind/Execute of the cached statement, ``COMMIT`` (three round trips; six with pre-ping).

    What this gives up, measured with ``pg_terminate_backend`` on the pool's connections: a
    request that checks a connection out *while* the server is closing it (before the client
    has read the close; well under a millisecond on one host) fails with a 500 instead of being
    moved to a new connection, as pre-ping would; 0.2 s later the next request succeeds on a
    fresh connection. Requests in flight when a server goes away fail with either setting, and
    after any disconnect error SQLAlchemy invalidates the whole pool generation (the optimistic
    handling of its "Dealing with Disconnects" docs), so the next checkouts reconnect.
    """
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE,
        connect_args={"server_settings": {"application_name": application_name, "timezone": "UTC"}},
    )
    event.listen(engine.sync_engine, "checkin", _remember_checkin)
    event.listen(engine.sync_engine, "checkout", _CheckOnCheckout(engine.dialect))
    return engine


def _remember_checkin(
    _dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry
) -> None:
    record.info[_LAST_CHECKIN] = time.monotonic()


def _is_closed(record: ConnectionPoolEntry) -> bool:
    driver: Any = record.driver_connection
    return driver is None or bool(driver.is_closed())


class _CheckOnCheckout:
    """The checkout listener; raising ``DisconnectionError`` makes the pool discard the
    connection and check out (or open) another one."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def __call__(
        self, dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _: object
    ) -> None:
        if _is_closed(record):
            raise exc.DisconnectionError("The server closed this pooled connection.")
        last_checkin = record.info.get(_LAST_CHECKIN)
        if last_checkin is None or time.monotonic() - last_checkin < PING_WHEN_IDLE_FOR:
            return  # a new connection, or one in use moments ago
        try:
            self.dialect.do_ping(dbapi_connection)
        except Exception as error:
            if _is_closed(record):
                raise exc.InvalidatePoolError("A pooled connection failed its ping.") from error
            raise


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work outside HTTP (consumers, jobs, demo data): commit, or roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with transaction(sessionmaker) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
"""The request's unit of work; inject it into routers and hand it to repositories/services."""
