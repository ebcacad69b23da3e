"""Schema migrations of the case database, by Alembic, configured in code (no alembic.ini).

Revisions live in `versions/`, one module each, named by revision id. `upgrade` brings a
database to the newest one; a database made by `create_all` before there were migrations is
adopted as 0001_initial first (`legacy`). To add a revision after changing migrations/tables.py:

    .venv/bin/python -m migrations new 0003_borrowers "borrowers table"

then read and correct the file it writes (autogenerate sees tables, columns, indexes and
types, not renames or data), and run tests/test_migrations.py: it fails while tables.py and
the newest revision differ, naming the table or column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, inspect, text

from migrations import legacy
from migrations.revisions import (
    INITIAL_REVISION,
    SchemaError,
    current_revision,
    head_revision,
    known_revisions,
    run_upgrade,
    stamp,
)

__all__ = [
    "INITIAL_REVISION",
    "Migration",
    "SchemaError",
    "SchemaNotCurrent",
    "SchemaStatus",
    "head_revision",
    "schema_status",
    "upgrade",
]

MIGRATE_COMMAND = "python starter.py migrate"
# Serialises migrations of one PostgreSQL database (two workers finding it empty, two deploy
# jobs): the second waits, then finds the work done. Any fixed bigint would do.
ADVISORY_LOCK_KEY = 0x636F6C6C_6D696772

SchemaState = Literal["current", "empty", "legacy", "behind", "unknown"]


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against this version's newest revision (`head`)."""

    revision: str | None  # the database's; None: no revision recorded
    head: str
    state: SchemaState

    @property
    def at_head(self) -> bool:
        return self.state == "current"

    def problem(self) -> str:
        """What is wrong and what to do, for a database not at head."""
        if self.state == "empty":
            return f"the case database is empty: run `{MIGRATE_COMMAND}` to create its tables"
        if self.state == "legacy":
            return (
                "the case database was made before migrations (it has tables, no revision): "
                f"run `{MIGRATE_COMMAND}` to adopt it as {INITIAL_REVISION} and upgrade it "
                f"to {self.head}"
            )
        if self.state == "behind":
            return (
                f"the case database is at revision {self.revision}, this version needs "
                f"{self.head}: run `{MIGRATE_COMMAND}` to upgrade it"
            )
        if self.state == "unknown":
            return (
                f"the case database is at revision {self.revision}, which this version does "
                f"not know (its newest is {self.head}): a newer version migrated it; run that "
                "version"
            )
        return f"the case database is at {self.head}, the newest revision"


class SchemaNotCurrent(SchemaError):
    """The database is not at this version's newest revision."""

    def __init__(self, status: SchemaStatus) -> None:
        super().__init__(status.problem())
        self.status = status


@dataclass(frozen=True)
class Migration:
    """What `upgrade` did: from which revision (None: an empty or legacy database) to which."""

    before: str | None
    after: str | None
    adopted: bool = False  # a legacy database, recorded as 0001_initial first
    widened: tuple[str, ...] = ()  # its columns made wider, as `table.column`


def schema_status(connection: Connection, *, schema: str | None = None) -> SchemaStatus:
    revision = current_revision(connection, schema=schema)
    head = head_revision()
    if revision == head:
        return SchemaStatus(revision, head, "current")
    if revision is not None:
        state: SchemaState = "behind" if revision in known_revisions() else "unknown"
        return SchemaStatus(revision, head, state)
    tables = set(inspect(connection).get_table_names(schema=schema))
    state = "legacy" if tables & legacy.CREATE_ALL_TABLES else "empty"
    return SchemaStatus(None, head, state)


def upgrade(
    connection: Connection, *, schema: str | None = None, revision: str = "head"
) -> Migration:
    """Bring the database to `revision` in the caller's transaction on `connection`.

    `schema` (PostgreSQL) is created if absent and holds the version table; the connection's
    search_path must point at it too. Raises `SchemaError` for a database this version
    cannot migrate (a revision it does not know, legacy tables that do not match).
    """
    quote = connection.dialect.identifier_preparer.quote
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    if schema is not None:
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    before = schema_status(connection, schema=schema)
    if before.state == "unknown":
        raise SchemaNotCurrent(before)
    widened: list[str] = []
    if before.state == "legacy":
        widened = legacy.adopt(connection, schema=schema)
        stamp(connection, INITIAL_REVISION, schema=schema)
    run_upgrade(connection, revision, schema=schema)
    return Migration(
        before=before.revision,
        after=current_revision(connection, schema=schema),
        adopted=before.state == "legacy",
        widened=tuple(widened),
    )
