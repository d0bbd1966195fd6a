"""One service's database: engine, transactions, migrations.

Use cases never commit; the door that calls them (an HTTP endpoint or a bus
handler) opens `Database.transaction()`, which commits once at the end and
then runs the after-commit hooks (waking the outbox relay).

Every store here is SQLAlchemy Core (tables, not mapped classes), so a unit
of work is a Core connection in a transaction: an ORM session around it would
cost a fifth of a millisecond per call and give nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Connection, MetaData, Select, Table, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# A pooled connection idle longer than this is pinged before use, so that one
# the server dropped (a restart, an idle timeout) is replaced, not handed out.
# A connection in steady use is not pinged: a round trip per transaction would
# cost a tenth of a millisecond, and if the server dies under load, the first
# failing statement invalidates the whole pool anyway.
PING_AFTER_IDLE_SECONDS = 5.0


class Database:
    def __init__(self, url: str, pool_size: int = 20, max_overflow: int = 10) -> None:
        """`pool_size` connections stay open (on PostgreSQL); a busy moment may
        add `max_overflow` more, each closed when given back.  Keep the calls
        usually in flight within `pool_size`: every connection opened costs
        PostgreSQL a new backend process.  Churning them (~40 a second with 16
        callers on a pool of 10) put intake's p99 at 80 ms instead of 30 ms in
        bench_intake."""
        self.url = url
        self.pool = dict(pool_size=pool_size, max_overflow=max_overflow)
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
        else:
            self.engine = _postgres_engine(url, **self.pool)
        self._autocommit_engine: AsyncEngine | None = None
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, hook: Callable[[], None]) -> None:
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed when the block
        ends, rolled back if it raises."""
        async with self.transaction_without_events() as connection:
            yield connection
        self._committed()

    @asynccontextmanager
    async def transaction_without_events(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that does not run the after-commit hooks: for work
        that never records events (it need not wake the outbox relay)."""
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement commits on its own (PostgreSQL
        autocommit), then the after-commit hooks: for a use case whose write is
        one atomic statement, it saves the BEGIN and COMMIT round trips.  On
        SQLite, whose stores write in several statements, a transaction."""
        if self.is_sqlite:
            async with self.transaction() as connection:
                yield connection
            return
        if self._autocommit_engine is None:
            # A pool of its own, whose connections are in autocommit from the
            # start: switching a shared pool's connection there and back costs
            # more CPU (~20 us a call) than the rest of the checkout.
            self._autocommit_engine = _postgres_engine(self.url, isolation_level="AUTOCOMMIT", **self.pool)
            event.listen(self._autocommit_engine.sync_engine, "connect", _note_autocommit)
        async with self._autocommit_engine.connect() as connection:
            yield connection
        self._committed()

    def _committed(self) -> None:
        for hook in self._after_commit:
            hook()

    def connect(self) -> AsyncConnection:
        """A connection for reads: what it began is rolled back when it closes."""
        return self.engine.connect()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._autocommit_engine is not None:
            await self._autocommit_engine.dispose()

    async def migrate(self, script_location: Path) -> None:
        """Brings the schema to the newest Alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(script_location))
        config.attributes["database_url"] = self.url
        # Alembic's env.py runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(command.upgrade, config, "head")


def insert_for(connection: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT in the connection's own dialect, for its ON CONFLICT clauses."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def where_equal(query: Select[Any], filters: dict[str, Any], columns: dict[str, ColumnElement[Any]]) -> Select[Any]:
    """`query` narrowed by each filter that is set: `column == value` for the
    filters named in `columns` (a list filter's endpoints pass what the caller asked)."""
    for name, column in columns.items():
        if filters.get(name):
            query = query.where(column == filters[name])
    return query


def autocommits(connection: AsyncConnection) -> bool:
    """True on a connection from `Database.autocommit()` (PostgreSQL)."""
    return bool(connection.info.get("autocommit", False))


def _postgres_engine(url: str, **options: Any) -> AsyncEngine:
    # An error's message and the engine's logs carry no bound values: they are
    # phones, names and addresses.
    engine = create_async_engine(url, hide_parameters=True, **options)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    event.listen(engine.sync_engine, "connect", _note_checkin)  # new: no need to ping
    return engine


def _note_autocommit(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["autocommit"] = True


async def driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection`, for a hot statement that
    SQLAlchemy's per-execute work would slow.  It shares the connection and,
    once SQLAlchemy has sent the transaction's first statement (its BEGIN goes
    with it), the transaction; before that, or under autocommit, a statement
    sent here commits on its own."""
    return (await connection.get_raw_connection()).driver_connection


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry | None) -> None:
    if record is not None:
        record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection that sat idle:
    a DisconnectionError here makes the pool replace it and check out again."""
    if time.monotonic() - record.info.get("checked_in", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise exc.DisconnectionError(f"pooled connection is gone: {error}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the driver, say when a transaction begins (see below);
    # this is also what makes SAVEPOINT work with pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock at BEGIN: concurrent writers then queue on the
    busy timeout instead of failing when a read turns into a write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


_MIGRATION_LOCK = 7_242_300_001  # any constant: each service has a database of its own


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context
    from sqlalchemy.ext.asyncio import async_engine_from_config
    from sqlalchemy.pool import NullPool

    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Replicas starting together migrate one after the other.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run() -> None:
        engine = async_engine_from_config(
            {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=NullPool
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())
