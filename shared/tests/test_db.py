"""The embedded SQLite default under concurrency: writers queue instead of
failing, and savepoints work."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

import shared.db
from shared.db import Database

metadata = MetaData()
counters = Table("counters", metadata, Column("name", String(20), primary_key=True), Column("n", Integer))


@pytest.fixture
async def sqlite_db(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/test.db")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.transaction() as session:
        await session.execute(counters.insert().values(name="requests", n=0))
    yield db
    await db.dispose()


async def test_concurrent_read_then_write_transactions_all_succeed(sqlite_db: Database) -> None:
    async def increment() -> None:
        async with sqlite_db.transaction() as session:
            n = (await session.execute(select(counters.c.n))).scalar_one()
            await asyncio.sleep(0.001)  # let the others interleave
            await session.execute(update(counters).values(n=n + 1))

    await asyncio.gather(*(increment() for _ in range(25)))
    async with sqlite_db.transaction() as session:
        assert (await session.execute(select(counters.c.n))).scalar_one() == 25


async def test_a_failed_savepoint_keeps_the_rest_of_the_transaction(sqlite_db: Database) -> None:
    async with sqlite_db.transaction() as session:
        await session.execute(update(counters).values(n=7))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(counters.insert().values(name="requests", n=1))
    async with sqlite_db.transaction() as session:
        assert (await session.execute(select(counters.c.n))).scalar_one() == 7


async def test_replicas_migrating_one_database_at_once_do_not_collide(make_database) -> None:
    """Three processes (as three replicas starting together) migrate one
    PostgreSQL database; the advisory lock makes them take turns."""
    import os
    import sys

    from tests.support.infra import ROOT

    url = await make_database("migrate")
    env = {**os.environ, "DISPATCH_DATABASE_URL": url, "HEARTLINE_ADMIN_TOKEN": "x" * 20}
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "services.dispatch", "migrate", cwd=ROOT,
                                             env=env, stderr=asyncio.subprocess.PIPE)
        for _ in range(3)
    ]
    results = [(await p.wait(), (await p.stderr.read()).decode()[-1500:]) for p in processes]
    assert [code for code, _ in results] == [0, 0, 0], results


async def _drop_server_side_connections(admin_url: str, url: str) -> int:
    """What a PostgreSQL restart does to a pool: every backend of the database goes."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name))
    finally:
        await conn.close()


@pytest.mark.parametrize("idle_enough", [True, False], ids=["idle-pinged", "busy-not-pinged"])
async def test_a_pooled_connection_the_server_dropped_is_replaced_once_it_sat_idle(
        make_database, postgres_admin_url, monkeypatch, idle_enough: bool) -> None:
    url = await make_database("ping")
    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
        assert await _drop_server_side_connections(postgres_admin_url, url) == 1
        monkeypatch.setattr(shared.db, "PING_AFTER_IDLE_SECONDS", 0.0 if idle_enough else 3600.0)
        if idle_enough:
            async with db.transaction() as session:
                assert (await session.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        else:
            # Not pinged: the dead connection is handed out and fails once;
            # that failure invalidates the pool, and the next call works.
            with pytest.raises(DBAPIError):
                async with db.transaction() as session:
                    await session.execute(text("SELECT 1"))
            async with db.transaction() as session:
                assert (await session.execute(text("SELECT 41 + 1"))).scalar_one() == 42
    finally:
        await db.dispose()


async def test_statements_commit_one_by_one_and_transactions_stay_transactions(make_database) -> None:
    """`statements()` draws on a pool of its own in autocommit; the main
    pool's connections must never come back from it in autocommit."""
    db = Database(await make_database("statements"))
    woken: list[int] = []
    db.after_commit(lambda: woken.append(1))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with db.autocommit() as connection:
            assert shared.db.autocommits(connection)
            await connection.execute(counters.insert().values(name="a", n=1))
            async with db.connect() as other:  # seen at once: it committed on its own
                assert (await other.execute(select(counters.c.n))).scalars().all() == [1]
            with pytest.raises(IntegrityError):
                await connection.execute(counters.insert().values(name="a", n=2))
        assert woken == [1]
        with pytest.raises(IntegrityError):
            async with db.transaction() as connection:
                assert not shared.db.autocommits(connection)
                await connection.execute(counters.insert().values(name="b", n=3))
                await connection.execute(counters.insert().values(name="a", n=4))
        async with db.connect() as connection:  # the first statement stayed; the transaction left nothing
            assert (await connection.execute(select(counters.c.name, counters.c.n))).all() == [("a", 1)]
    finally:
        await db.dispose()


async def test_calls_in_flight_within_the_pool_reuse_its_connections(make_database) -> None:
    """Beyond `pool_size` a connection is opened per use and closed after it:
    a new PostgreSQL backend each time, which is why the pool is sized to
    the calls in flight (HEARTLINE_DB_POOL_SIZE)."""
    db = Database(await make_database("pool"), pool_size=8, max_overflow=4)
    try:
        async def backend() -> int:
            async with db.autocommit() as connection:
                return (await connection.execute(text("SELECT pg_backend_pid() FROM pg_sleep(0.02)"))).scalar_one()

        async def bursts(width: int) -> set[int]:
            seen: set[int] = set()
            for _ in range(5):
                seen.update(await asyncio.gather(*(backend() for _ in range(width))))
            return seen

        assert len(await bursts(8)) == 8  # opened once, then reused
        assert len(await bursts(12)) > 12  # the four beyond the pool are new every burst
        assert db._autocommit_engine.pool.size() == 8
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_a_failed_statement_does_not_repeat_its_values(backend: str, make_database, tmp_path) -> None:
    """Bound values are phones, names and addresses: an error (which gets logged)
    names the statement, never the values SQLAlchemy sent.  (PostgreSQL's own
    DETAIL of a unique violation quotes the key: the log filter's job.)"""
    url = await make_database("hidden") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/h.db"
    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.run_sync(metadata.create_all)
            await session.execute(counters.insert().values(name="+8613800138000", n=1))
        with pytest.raises(IntegrityError) as failure:
            async with db.transaction() as session:
                await session.execute(counters.insert().values(name="+8613800138000", n=2))
        message = str(failure.value)
        assert "INSERT INTO counters" in message and "parameters hidden" in message
        assert "+8613800138000', 2" not in message and "('+8613800138000'" not in message
    finally:
        await db.dispose()
