"""The SQLite engines behind `activities.store.Store`: one that writes, one that only reads.

SQLite has one writer at a time and lets readers read beside it (WAL). How the writers of one
process and of several take their turns is decided here, once, for every store on a file.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


# SQLite has one writer at a time. Threads of this process that want to write wait for the
# one write connection in the pool's queue, woken as soon as it is free, instead of each
# polling the database's lock with SQLite's growing sleeps (up to 100 ms between tries): under
# a storm that polling let a case's preparation wait seconds behind later writers.
_ONE_WRITER: dict[str, Any] = {
    "pool_size": 1,
    "max_overflow": 0,
    "pool_timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
}


# Writers of other processes (a worker per core, the desk) cannot join that queue: each waits
# for SQLite's lock itself. SQLite's own wait sleeps ever longer between tries (1, 2, 5, 10 ...
# 100 ms), so a writer of one process slept on while the lock sat free or went to the other's
# next writer; with two worker processes that cost a fifth of the intake. A writer instead asks
# SQLite to wait only this long and tries again at once until SQLITE_BUSY_TIMEOUT_MS has passed:
# it tries about every millisecond. Inside a transaction it holds the lock, so nothing waits.
WRITER_BUSY_TIMEOUT_MS = 2


def _take_write_lock(dbapi_connection: Any) -> None:
    """`BEGIN IMMEDIATE`, tried until SQLITE_BUSY_TIMEOUT_MS has passed (see above)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise


def is_file(url: str) -> bool:
    """Whether `url` names a database file (not one in memory)."""
    return make_url(url).database not in (None, "", ":memory:")


def sqlite_engine(url: str, *, writes: bool = True) -> Engine:
    """An engine whose transactions take the write lock when they begin (`writes`), or one
    whose transactions only read, each from one snapshot, beside the writer (WAL)."""
    # Activities run in a thread pool, so connections cross threads; the pool hands each one
    # to one thread at a time.
    shared_file = writes and is_file(url)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        hide_parameters=True,
        **(_ONE_WRITER if shared_file else {}),
    )
    busy_timeout_ms = WRITER_BUSY_TIMEOUT_MS if shared_file else SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (see `_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        # WAL lets readers proceed while one activity writes.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that later upgrades to
        # a writer fails with "database is locked" at once, ignoring the busy timeout. A reader
        # stays deferred, so it neither waits for the write lock nor holds it.
        if shared_file:
            _take_write_lock(connection.connection.dbapi_connection)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine
