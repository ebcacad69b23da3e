"""`migrate`: bring the case database (`DATABASE_URL`) to the schema this version needs.

Idempotent: a database at the newest revision is left alone. An empty one gets every table;
one made before there were migrations is adopted (see `migrations.legacy`). Prints one line,
from which revision to which; the worker refuses to start until this has run.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, failed, out
from migrations import INITIAL_REVISION, Migration, SchemaError


def describe(migration: Migration) -> str:
    if migration.adopted:
        widened = f", widened {', '.join(migration.widened)}" if migration.widened else ""
        before = f"tables made before migrations (adopted as {INITIAL_REVISION}{widened})"
    else:
        before = migration.before or "empty"
    if migration.before == migration.after:
        return f"at {migration.after} already, nothing to do"
    return f"{before} -> {migration.after}"


def migrate_case_database(store: Store | None = None) -> int:
    store = store or Store.from_env()
    where = f"case database {store.engine.url.render_as_string(hide_password=True)}"
    try:
        migration = store.migrate()
    except SchemaError as error:
        return failed(f"{where}: {error}", EXIT_ERROR)
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        return failed(f"{where}: cannot migrate: {cause}", EXIT_ERROR)
    finally:
        store.dispose()
    out(f"{where}: {describe(migration)}")
    return EXIT_OK


async def cmd_migrate(args: argparse.Namespace, connect: ClientFactory) -> int:
    return migrate_case_database()


def register(commands: CommandSet) -> None:
    commands.add(
        "migrate",
        cmd_migrate,
        "Bring the case database (DATABASE_URL) to this version's schema; idempotent.",
    )
