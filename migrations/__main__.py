"""Write a new revision from the difference between migrations/tables.py and the newest one.

    .venv/bin/python -m migrations new 0003_borrowers "borrowers table"

The difference is taken against an in-memory SQLite database at the newest revision, so no
database is needed. Autogenerate sees added and dropped tables, columns, indexes and type
changes, not renames or data: read the file, correct it, then run tests/test_migrations.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext

from migrations.revisions import (
    MIGRATIONS_DIR,
    alembic_config,
    known_revisions,
    scratch_database,
)

REVISION_ID = re.compile(r"\d{4}_[a-z0-9_]{1,40}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a revision from the change to tables.py")
    new.add_argument("revision_id", help="the next number and a name, e.g. 0003_borrowers")
    new.add_argument("message", help="what the revision does, one line")
    args = parser.parse_args(argv)
    if not REVISION_ID.fullmatch(args.revision_id):
        parser.error(f"revision_id must match {REVISION_ID.pattern}, e.g. 0003_borrowers")
    if args.revision_id in known_revisions():
        parser.error(f"revision {args.revision_id} exists already")
    found: list[bool] = []

    def unless_empty(context: MigrationContext, revision: Any, directives: list[Any]) -> None:
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives.clear()  # no file for a revision that would do nothing
        found.append(bool(directives))

    with scratch_database("head") as connection:
        command.revision(
            alembic_config(connection),
            message=args.message,
            autogenerate=True,
            rev_id=args.revision_id,
            process_revision_directives=unless_empty,
        )
    if not any(found):
        print("migrations/tables.py matches the newest revision: nothing written")
        return 1
    print(f"wrote {MIGRATIONS_DIR / 'versions' / args.revision_id}.py: read and correct it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
