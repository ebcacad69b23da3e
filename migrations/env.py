"""Alembic's environment: run by `migrations.run_alembic` on a connection it passes in.

There is no alembic.ini and no URL here: the caller (`Store.migrate`, `python starter.py
migrate`, `python -m migrations new`) owns the connection and its transaction, so a migration
and the checks around it commit or roll back together.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, String
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import migrations.desk_tables  # (registers the desk's tables too)
import migrations.portal_tables  # (and the portal's)
import migrations.tables  # noqa: F401  (registers every table on SQLModel.metadata)


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write sqlmodel's AutoString as plain `sa.String`, so revisions need only SQLAlchemy."""
    if kind == "type" and isinstance(obj, AutoString):
        length = obj.impl.length if isinstance(obj.impl, String) else None
        return "sa.String()" if length is None else f"sa.String(length={length})"
    return False


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "migrations run on a connection passed in by `migrations.run_alembic` "
        "(`python starter.py migrate`), not from the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table_schema=context.config.attributes.get("version_table_schema"),
    # SQLite alters little in place; autogenerate writes batch operations that it can run.
    render_as_batch=True,
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
