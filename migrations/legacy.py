"""Adopting a case database made by `create_all`, before there were migrations.

Such a database has the tables of 0001_initial and no version table. It is recorded as
0001_initial and upgraded from there, after two checks: every table, column and index of
0001_initial must be there (otherwise adoption refuses, naming what is missing, rather than
guess), and columns an older version made narrower are widened: amounts were INTEGER before
they became BIGINT, and texts may be shorter varchars. SQLite needs no widening: its integers
are 64-bit and its varchars any length, whatever the declared type.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, Connection, Integer, MetaData, String, Text, inspect
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.types import TypeEngine

from migrations.revisions import INITIAL_REVISION, SchemaError, scratch_database

# What `create_all` made in every version before migrations: the tables of 0001_initial.
CREATE_ALL_TABLES = frozenset(
    {
        "cases",
        "contact_attempts",
        "payments",
        "work_items",
        "field_visits",
        "legal_referrals",
        "case_events",
    }
)


def initial_schema() -> MetaData:
    """The tables as 0001_initial makes them (reflected from a scratch SQLite database, whose
    declared types are kept as written)."""
    schema = MetaData()
    with scratch_database(INITIAL_REVISION) as connection:
        schema.reflect(connection, only=sorted(CREATE_ALL_TABLES))
    return schema


def adopt(connection: Connection, *, schema: str | None = None) -> list[str]:
    """Check the legacy tables against 0001_initial and widen narrow columns; returns the
    widened columns as `table.column`. Raises `SchemaError`, changing nothing, on a mismatch."""
    expected = initial_schema()
    inspector = inspect(connection)
    present = set(inspector.get_table_names(schema=schema))
    missing: list[str] = []
    narrow: list[tuple[str, str, TypeEngine[object]]] = []
    for table in expected.sorted_tables:
        if table.name not in present:
            missing.append(f"table {table.name}")
            continue
        columns = {c["name"]: c for c in inspector.get_columns(table.name, schema=schema)}
        for column in table.columns:
            found = columns.get(column.name)
            if found is None:
                missing.append(f"column {table.name}.{column.name}")
            elif _narrower(found, column.type):
                narrow.append((table.name, column.name, column.type))
        indexes = {i["name"] for i in inspector.get_indexes(table.name, schema=schema)}
        missing.extend(
            f"index {index.name} on {table.name}"
            for index in sorted(table.indexes, key=lambda i: str(i.name))
            if index.name not in indexes
        )
    if missing:
        raise SchemaError(
            "the case database has tables made before migrations, but not all of "
            f"{INITIAL_REVISION}: missing {', '.join(missing)}. Nothing was changed; add them "
            f"(as migrations/tables.py of that version made them) or migrate an empty database"
        )
    if connection.dialect.name == "sqlite":
        return []
    _widen(connection, narrow, schema)
    return [f"{table}.{column}" for table, column, _ in narrow]


def _narrower(found: ReflectedColumn, wanted: TypeEngine[object]) -> bool:
    """Whether the database's column holds less than 0001_initial's type would."""
    have = found["type"]
    if isinstance(wanted, BigInteger):
        return isinstance(have, Integer) and not isinstance(have, BigInteger)
    if isinstance(wanted, String) and isinstance(have, String) and have.length is not None:
        # Text, or a varchar without a length, takes any length.
        return isinstance(wanted, Text) or wanted.length is None or have.length < wanted.length
    return False


def _widen(
    connection: Connection,
    columns: Iterable[tuple[str, str, TypeEngine[object]]],
    schema: str | None,
) -> None:
    quote = connection.dialect.identifier_preparer.quote
    prefix = f"{quote(schema)}." if schema else ""
    for table, column, wanted in columns:
        connection.exec_driver_sql(
            f"ALTER TABLE {prefix}{quote(table)} ALTER COLUMN {quote(column)} "
            f"TYPE {wanted.compile(dialect=connection.dialect)}"
        )
