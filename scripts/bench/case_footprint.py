"""The footprint of one case, for the capacity plan (docs/capacity.md): its history (see
history_footprint), its rows and bytes in the case database, the database statements its
activities ran, and its contacts by channel.

A row belongs to the case when its `case_id`, `loan_id` or `borrower_id` (whichever columns
its table has) is the case's; a table with none of these columns is shared. A row's value
bytes are the lengths of its stored values: text in UTF-8, 8 for a number, 1 for a boolean,
0 for NULL, so no per-row or per-page overhead. Where SQLite's `dbstat` is compiled in, the
case's rows are also copied into an empty database of the project's schema and measured as
SQLite stores them, table and indexes apart (record payloads, without page slack). A legal
referral's evidence package is files on disk, measured apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from history_footprint import history_footprint
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, or_, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel
from temporalio import activity
from temporalio.client import WorkflowHandle

# The store registers every table of the case database (the desk's and the portal's too) in
# SQLModel.metadata: the schema the copy is measured in.
from activities.store import normalize_url
from runtime import settings

COUNTED_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE")
Rows = Sequence[Mapping[str, Any]]


def value_bytes(row: Mapping[str, Any]) -> int:
    """The stored length of a row's values (see the module's docstring)."""
    total = 0
    for value in row.values():
        if value is None:
            continue
        if isinstance(value, bool):
            total += 1
        elif isinstance(value, int | float):
            total += 8
        elif isinstance(value, bytes):
            total += len(value)
        else:
            total += len(str(value).encode("utf-8"))
    return total


def case_rows(
    connection: Connection, owners: Mapping[str, str]
) -> tuple[dict[str, Rows], list[str]]:
    """Table -> the case's rows, for every table of the database; and the shared tables."""
    metadata = MetaData()
    metadata.reflect(connection)
    found: dict[str, Rows] = {}
    shared: list[str] = []
    for table in metadata.sorted_tables:
        matches = [table.c[name] == value for name, value in owners.items() if name in table.c]
        if not matches:
            shared.append(table.name)
            continue
        rows = connection.execute(select(table).where(or_(*matches))).mappings().all()
        found[table.name] = [dict(row) for row in rows]
    return found, shared


def _copy_into(connection: Connection, found: Mapping[str, Rows]) -> None:
    for name, rows in found.items():
        table = SQLModel.metadata.tables.get(name)
        if table is not None and rows:
            known = set(table.c.keys())
            connection.execute(
                table.insert(), [{k: v for k, v in row.items() if k in known} for row in rows]
            )


def sqlite_payload(found: Mapping[str, Rows]) -> dict[str, dict[str, int]] | None:
    """Table -> SQLite's record payload bytes of the rows (`sqlite_table_bytes`) and of the
    table's indexes (`sqlite_index_bytes`), in an empty copy of the schema holding only these
    rows; None without `dbstat`."""
    engine = create_engine("sqlite://")
    try:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as connection:
            _copy_into(connection, found)
            owner: dict[str, str] = {
                name: table
                for name, table in connection.execute(
                    text("SELECT name, tbl_name FROM sqlite_master")
                ).all()
            }
            sizes = connection.execute(
                text("SELECT name, sum(payload) FROM dbstat GROUP BY name")
            ).all()
    except OperationalError:  # no dbstat in this SQLite
        return None
    finally:
        engine.dispose()
    payload = {name: {"sqlite_table_bytes": 0, "sqlite_index_bytes": 0} for name in found}
    for name, size in sizes:
        table = owner.get(name, name)
        if table in payload:
            key = "sqlite_table_bytes" if name == table else "sqlite_index_bytes"
            payload[table][key] += int(size or 0)
    return payload


def database_footprint(found: Mapping[str, Rows], shared: list[str]) -> dict[str, Any]:
    """The case's rows and bytes per table and in total, and the tables it shares."""
    stored = sqlite_payload(found) or {}
    tables: dict[str, dict[str, int]] = {
        name: {"rows": len(rows), "value_bytes": sum(value_bytes(row) for row in rows)}
        | stored.get(name, {})
        for name, rows in found.items()
    }
    totals: Counter[str] = Counter()
    for figures in tables.values():
        totals.update(figures)
    return {"tables": tables, "total": dict(totals), "shared_tables": shared}


def evidence_files(referrals: Rows) -> dict[str, int]:
    """The evidence packages of the case's legal referrals, files on disk beside the database."""
    files = [
        path
        for referral in referrals
        if Path(str(referral["evidence_dir"])).is_dir()
        for path in Path(str(referral["evidence_dir"])).rglob("*")
        if path.is_file()
    ]
    return {"files": len(files), "bytes": sum(path.stat().st_size for path in files)}


def contacts_by_channel(attempts: Rows) -> dict[str, dict[str, int]]:
    """Channel -> outbox status -> how many of the case's contact attempts."""
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    for attempt in attempts:
        channels[str(attempt["channel"])][str(attempt["status"])] += 1
    return {channel: dict(statuses) for channel, statuses in sorted(channels.items())}


class DatabaseStatements:
    """SELECT, INSERT, UPDATE and DELETE statements (each row of an executemany counted) that
    any engine in this process runs while this is open, by the activity that ran them, and
    the transactions committed. The engines are the activities' own, so they are watched at
    the class, not handed in."""

    def __init__(self) -> None:
        self.by_activity: dict[str, Counter[str]] = defaultdict(Counter)

    def __enter__(self) -> DatabaseStatements:
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._commit)

    @staticmethod
    def _where() -> str:
        return activity.info().activity_type if activity.in_activity() else "outside activities"

    def _statement(self, _c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if verb in COUNTED_VERBS:
            self.by_activity[self._where()][verb.lower()] += len(params) if many else 1

    def _commit(self, _connection: Any) -> None:
        self.by_activity[self._where()]["commits"] += 1

    def report(self) -> dict[str, Any]:
        total: Counter[str] = Counter()
        for counts in self.by_activity.values():
            total.update(counts)
        by_activity = {name: dict(counts) for name, counts in sorted(self.by_activity.items())}
        return {"by_activity": by_activity, "total": dict(total)}


async def case_footprint(
    case: WorkflowHandle[Any, Any], timezone: str, statements: DatabaseStatements
) -> dict[str, Any]:
    """The footprint of a case that has completed (its first run's history)."""
    history = await case.fetch_history()
    case_id = case.first_execution_run_id or case.run_id
    engine = create_engine(normalize_url(settings.database_url()))
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT loan_id, borrower_id FROM cases WHERE case_id = :case_id"),
                {"case_id": case_id},
            ).one()
            owners = {"case_id": str(case_id), "loan_id": row.loan_id}
            owners["borrower_id"] = row.borrower_id
            found, shared = case_rows(connection, owners)
    finally:
        engine.dispose()
    return {
        "loan_id": owners["loan_id"],
        "history": history_footprint(history.events, timezone),
        "database": database_footprint(found, shared),
        "database_statements": statements.report(),
        "evidence": evidence_files(found.get("legal_referrals", [])),
        "contacts_by_channel": contacts_by_channel(found.get("contact_attempts", [])),
    }
