"""The case database behind the activities: SQLite by default, PostgreSQL through `DATABASE_URL`.

Every write is "insert if absent" keyed by an id the workflow chose, which is what makes the
activities idempotent: a retried activity finds its own earlier row and does nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, inspect, tuple_, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, create_engine, select
from sqlmodel.sql.expression import SelectOfScalar

import migrations
import migrations.desk_tables  # (the desk's tables belong to the same database)
import migrations.portal_tables  # (so do the borrower portal's)
from activities.sqlite_engine import is_file, sqlite_engine
from domain.case import Borrower
from migrations import Migration, SchemaNotCurrent, SchemaStatus
from migrations.tables import (
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    PaymentRow,
)
from runtime import settings

Row = TypeVar("Row", bound=SQLModel)
T = TypeVar("T")

PG_CONNECT_TIMEOUT_SECONDS = 10
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def normalize_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3, the only PostgreSQL driver this project ships."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Store:
    def __init__(
        self, engine: Engine, *, schema: str | None = None, reader: Engine | None = None
    ) -> None:
        self.engine = engine
        # Reads that write nothing go through `reader`: on SQLite one whose transactions do not
        # take the write lock (`activities.sqlite_engine`), so a read never queues behind a
        # writer.
        self.reader = reader or engine
        self.schema = schema
        # SQLite: every write transaction takes the database's one write lock when it begins
        # (see `activities.sqlite_engine`), so none needs a row lock to keep another writer out.
        self.writes_alone = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str, *, schema: str | None = None) -> Store:
        """An engine for `url`; `schema` (PostgreSQL only) isolates this store's tables."""
        url = normalize_url(url)
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            if schema is not None:
                raise ValueError("schema is supported on PostgreSQL only")
            if not is_file(url):
                # A second engine would open a second, empty, database.
                return cls(sqlite_engine(url))
            return cls(sqlite_engine(url), reader=sqlite_engine(url, writes=False))
        # Fail an activity attempt (to be retried) rather than hang on an unreachable server.
        connect_args: dict[str, Any] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
        if schema is not None:
            if not SCHEMA_NAME.fullmatch(schema):
                raise ValueError(f"schema must match {SCHEMA_NAME.pattern}")
            connect_args["options"] = f"-csearch_path={schema}"
        # Statement parameters hold contact details; an error's message goes to logs and, as an
        # activity's failure, into Temporal's history: `hide_parameters` leaves them out of both.
        engine = create_engine(
            url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True
        )
        return cls(engine, schema=schema)

    @classmethod
    def from_env(cls) -> Store:
        url = settings.database_url()
        parsed = make_url(normalize_url(url))
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return cls.from_url(url)

    def migrate(self, revision: str = "head") -> Migration:
        """Bring the database to `revision` (default: the newest) in one transaction.

        An empty database gets every table; one made by `create_all` before there were
        migrations is adopted first (see `migrations`). Raises `SchemaError` for a database
        this version cannot migrate.
        """
        with self.engine.begin() as connection:
            return migrations.upgrade(connection, schema=self.schema, revision=revision)

    def schema_status(self) -> SchemaStatus:
        with self.engine.connect() as connection:
            return migrations.schema_status(connection, schema=self.schema)

    def schema_revision(self) -> str | None:
        """The revision the database is at; None before its first migration."""
        return self.schema_status().revision

    def require_current_schema(self) -> None:
        """What a worker needs before it runs activities: the newest schema.

        An empty database is created at once (nothing in it to lose, and a fresh
        `DATABASE_URL` works as before); any other database not at the newest revision
        raises `SchemaNotCurrent`, whose message names `python starter.py migrate`: upgrading
        a database in use is the operator's step, taken once, not every worker's at start.
        """
        status = self.schema_status()
        if status.state == "empty":
            self.migrate()
        elif not status.at_head:
            raise SchemaNotCurrent(status)

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed when the block ends without an exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: what it sees is one consistent state of the database, and
        it never waits for a writer (nor makes one wait). Whatever it adds is not committed."""
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    def get(self, model: type[Row], key: Any) -> Row | None:
        with self.reading() as session:
            return session.get(model, key)

    def insert_if_absent(
        self, *rows: SQLModel, then: Callable[[Session], None] | None = None
    ) -> bool:
        """Insert `rows` in one transaction unless the first one's key exists; True if inserted.

        `then` runs in the same transaction, only when inserting, so side effects of a new
        record (closing a work item on an outcome) happen exactly once with it.
        """
        first = rows[0]
        key = inspect(first).mapper.primary_key_from_instance(first)
        with Session(self.engine, expire_on_commit=False) as session:
            if not add_if_absent(session, *rows, then=then):
                return False
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                # A concurrent retry of the same activity won the race: same outcome as above.
                if session.get(type(first), key) is not None:
                    return False
                raise
        return True

    def update(self, model: type[Row], key: Any, **values: Any) -> Row | None:
        """Set `values` on the row of `key` and return it as stored; None if there is none.

        One statement (UPDATE ... RETURNING), not a read and a write: on SQLite every
        statement inside a write transaction holds the process's one writer the longer, while
        its thread waits to win the interpreter lock back."""
        columns = inspect(model).primary_key
        parts = key if isinstance(key, tuple) else (key,)
        statement = (
            update(model)
            .where(*(column == part for column, part in zip(columns, parts, strict=True)))
            .values(**values)
            .returning(model)
        )
        with self.session() as session:
            return session.scalars(
                statement, execution_options={"synchronize_session": False}
            ).first()

    def case_row(self, case_id: str) -> CaseRow | None:
        with self.reading() as session:
            return session.get(CaseRow, case_id)

    def open_case(self, row: CaseRow, borrower: Borrower) -> tuple[CaseRow, bool]:
        """Insert the case, or refresh its facts while keeping when it opened and where it is,
        and record its borrower (see `record_borrower`), in one transaction. Returns the
        stored case and whether it is new."""

        if self._insert_new_case(row, borrower):
            return row, True

        def write(session: Session) -> tuple[CaseRow, bool]:
            stored = session.get(CaseRow, row.case_id)
            if stored is None:
                session.add(row)
            else:
                for name in CASE_FACTS:
                    setattr(stored, name, getattr(row, name))
                session.add(stored)
            _write_borrower(session, borrower, at=row.opened_at)
            return (row, True) if stored is None else (stored, False)

        return self.write_racing(write)

    def _insert_new_case(self, row: CaseRow, borrower: Borrower) -> bool:
        """Insert the case and its borrower if neither is stored yet (a new case of a new
        borrower, as most are); False, with nothing written, otherwise. Looked for before the
        write transaction, so it holds the writer for two inserts only; a row written in
        between fails the insert, and the caller's transaction finds it."""
        with self.reading() as session:
            if session.get(CaseRow, row.case_id) is not None:
                return False
            if session.get(BorrowerRow, borrower.borrower_id) is not None:
                return False
        try:
            with self.session() as session:
                session.add(row)
                session.add(BorrowerRow.from_borrower(borrower, at=row.opened_at))
        except IntegrityError:
            return False
        return True

    def record_borrower(self, borrower: Borrower, *, at: str) -> None:
        """Insert the borrower, or replace their details unless the stored ones are newer: `at`
        is when the case that brought them opened, and the latest case has the current ones."""
        self.write_racing(lambda session: _write_borrower(session, borrower, at=at))

    def write_racing(self, write: Callable[[Session], T]) -> T:
        """`write` in one transaction. Where it lost a race for a new row to another worker
        (PostgreSQL), it runs again, and then finds that row."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.session() as session:
                    result = write(session)
                return result
            except IntegrityError:
                if attempt == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def contacts_of_case(self, case_id: str) -> Sequence[ContactAttemptRow]:
        return self._of_case(
            select(ContactAttemptRow)
            .where(col(ContactAttemptRow.case_id) == case_id)
            .order_by(col(ContactAttemptRow.created_at), col(ContactAttemptRow.attempt_id))
        )

    def payments_of_case(self, case_id: str) -> Sequence[PaymentRow]:
        return self._of_case(
            select(PaymentRow)
            .where(col(PaymentRow.case_id) == case_id)
            .order_by(col(PaymentRow.received_at), col(PaymentRow.record_id))
        )

    def events_of_case(self, case_id: str) -> Sequence[CaseEventRow]:
        return self._of_case(
            select(CaseEventRow)
            .where(col(CaseEventRow.case_id) == case_id)
            .order_by(col(CaseEventRow.at), col(CaseEventRow.event_key))
        )

    def _of_case(self, statement: SelectOfScalar[Row]) -> Sequence[Row]:
        with self.reading() as session:
            return session.exec(statement).all()


def add_if_absent(
    session: Session, *rows: SQLModel, then: Callable[[Session], None] | None = None
) -> bool:
    """Add `rows` to the session's transaction unless the first one's key exists, and run
    `then` with them; True if added. `insert_if_absent` is this in a transaction of its own."""
    first = rows[0]
    key = inspect(first).mapper.primary_key_from_instance(first)
    if session.get(type(first), key) is not None:
        return False
    session.add_all(rows)
    if then is not None:
        then(session)
    return True


def not_yet_held(session: Session, rows: Sequence[Row]) -> list[tuple[int, Row]]:
    """Those of `rows` (of one table) whose key neither the database nor the session's
    transaction holds yet, each key once, with their places in `rows`. One query for a batch,
    where `add_if_absent` asks once per row: each statement costs far more CPU in SQLAlchemy
    than in SQLite (and a round trip on PostgreSQL), and a contact's batch has several."""
    if not rows:
        return []
    mapper = inspect(rows[0]).mapper
    columns = mapper.primary_key
    keys = [tuple(mapper.primary_key_from_instance(row)) for row in rows]
    # (The query flushes what the session added so far: its rows count as held.)
    found = session.execute(select(*columns).where(tuple_(*columns).in_(sorted(set(keys)))))
    held = {tuple(row) for row in found}
    fresh: list[tuple[int, Row]] = []
    for place, (key, row) in enumerate(zip(keys, rows, strict=True)):
        if key not in held:
            held.add(key)
            fresh.append((place, row))
    return fresh


# What a case's row takes from the case each time it is prepared; when it opened and where it
# stands are the case's own.
CASE_FACTS = (
    "workflow_id",
    "loan_id",
    "borrower_id",
    "currency",
    "overdue_amount_minor",
    "due_date",
    "policy",
    "portfolio",
    "timezone",
    "planned_ladder",
    "segment",
    "experiment",
    "arm",
)
# A write that lost a race for a new row (PostgreSQL) is tried again, and then finds it.
WRITE_ATTEMPTS = 3


def _write_borrower(session: Session, borrower: Borrower, *, at: str) -> None:
    row = BorrowerRow.from_borrower(borrower, at=at)
    if session.get(BorrowerRow, row.borrower_id) is None:
        session.add(row)
        return
    # One conditional statement, so a concurrent older write cannot slip in between.
    session.execute(
        update(BorrowerRow)
        .where(
            col(BorrowerRow.borrower_id) == row.borrower_id,
            col(BorrowerRow.updated_at) <= row.updated_at,
        )
        .values(**row.model_dump(exclude={"borrower_id"}))
    )
