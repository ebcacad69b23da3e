"""Alembic configured in code: where the revisions are, which one is newest, which one a
database is at. Nothing here reads an alembic.ini or depends on the current directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent
INITIAL_REVISION = "0001_initial"

# Alembic narrates each context it opens at INFO ("Context impl SQLiteImpl."), and a worker
# opens one at every start to check the revision; `starter.py migrate` reports what it did.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


class SchemaError(RuntimeError):
    """The case database cannot be migrated as it is; the message says why and what to do."""


def alembic_config(connection: Connection | None = None, *, schema: str | None = None) -> Config:
    """Alembic's configuration for running `migrations/env.py` on `connection`.

    `schema` (PostgreSQL) is where the version table lives; the connection's search_path puts
    the tables in the same schema.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # A revision's file is named by its id ("0003_borrowers.py"); '%%' escapes ConfigParser.
    config.set_main_option("file_template", "%%(rev)s")
    config.attributes["connection"] = connection
    config.attributes["version_table_schema"] = schema
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision; two heads (two branches each adding one) is an error to fix."""
    head = script_directory().get_current_head()
    if head is None:
        raise SchemaError(f"no revisions in {MIGRATIONS_DIR / 'versions'}")
    return head


def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in script_directory().walk_revisions())


def current_revision(connection: Connection, *, schema: str | None = None) -> str | None:
    """The revision recorded in the database; None if it has no version table (or row)."""
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def run_upgrade(connection: Connection, revision: str, *, schema: str | None = None) -> None:
    command.upgrade(alembic_config(connection, schema=schema), revision)


def stamp(connection: Connection, revision: str, *, schema: str | None = None) -> None:
    """Record `revision` as the database's without running anything."""
    command.stamp(alembic_config(connection, schema=schema), revision)


@contextmanager
def scratch_database(revision: str) -> Iterator[Connection]:
    """A connection to an in-memory SQLite database migrated to `revision`."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            run_upgrade(connection, revision)
            yield connection
    finally:
        engine.dispose()
