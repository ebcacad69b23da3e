"""The case database's migrations (Alembic), on real SQLite and real PostgreSQL.

`blank_store` is an empty database of either kind (PostgreSQL: a schema of the test's own);
`store` is one the migrations brought to the newest revision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from structlog.testing import capture_logs

import worker
from activities.record_effects import apply_snapshot
from activities.store import Store
from cli import main as starter
from contracts import CaseSnapshot
from migrations import INITIAL_REVISION, SchemaError, SchemaNotCurrent
from migrations.legacy import CREATE_ALL_TABLES
from migrations.revisions import (
    alembic_config,
    known_revisions,
    scratch_database,
)
from migrations.tables import PART_COLUMNS, CaseRow, ContactAttemptRow, PaymentRow
from tests.helpers.databases import POSTGRES_ENV
from tests.helpers.migrations import HEAD, migrate_to
from tests.helpers.processes import run_process

VERSION_TABLE = "alembic_version"


# -- helpers ------------------------------------------------------------------------------------
def differences(connection: Connection) -> list[str]:
    """How the database differs from migrations/tables.py, one line per table or column."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: (
                not (kind == "table" and name == VERSION_TABLE)
            ),
        },
    )
    lines: list[str] = []
    for diff in compare_metadata(context, SQLModel.metadata):
        for change in diff if isinstance(diff, list) else [diff]:
            lines.append(describe(change))
    return lines


def describe(change: tuple[Any, ...]) -> str:
    kind = change[0]
    missing = "in migrations/tables.py but made by no revision: add a migration"
    extra = "made by the revisions but not in migrations/tables.py"
    if kind == "add_table":
        return f"table {change[1].name}: {missing}"
    if kind == "remove_table":
        return f"table {change[1].name}: {extra}"
    if kind == "add_column":
        return f"column {change[2]}.{change[3].name}: {missing}"
    if kind == "remove_column":
        return f"column {change[2]}.{change[3].name}: {extra}"
    if kind in ("add_index", "remove_index"):
        index = change[1]
        where = missing if kind == "add_index" else extra
        return f"index {index.name} on {index.table.name}: {where}"
    if kind.startswith("modify_"):
        _, _, table, column, _, before, after = change
        what = kind.removeprefix("modify_")
        return f"column {table}.{column}: {what} is {before} in the database, {after} in tables.py"
    return repr(change)


def table_names(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return set(inspect(connection).get_table_names(schema=store.schema))


def make_legacy_database(store: Store) -> None:
    """What `create_all` made before there were migrations: the tables of tables.py as they
    were then (without the columns later revisions add), and no version table."""
    tables = [SQLModel.metadata.tables[name] for name in sorted(CREATE_ALL_TABLES)]
    with store.engine.begin() as connection:
        SQLModel.metadata.create_all(connection, tables=tables)
        later_columns = (
            "delivery_status",
            "delivery_updated_at",
            "send_tries",  # made by 0007
            "send_started_at",
            "provider_not_before",
        )
        for column in later_columns:
            connection.exec_driver_sql(f"ALTER TABLE contact_attempts DROP COLUMN {column}")
        for table, columns in (  # made by 0008
            ("payments", PART_COLUMNS),
            ("cases", (*PART_COLUMNS, "balance_as_of")),
        ):
            for column in columns:
                connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        connection.exec_driver_sql("DROP INDEX ix_cases_experiment")  # made by 0011
        for column in ("segment", "experiment", "arm"):
            connection.exec_driver_sql(f"ALTER TABLE cases DROP COLUMN {column}")
        connection.exec_driver_sql("DROP INDEX ix_cases_borrower_id")  # made by 0003
        connection.exec_driver_sql("DROP INDEX ix_contact_attempts_provider_ref")  # by 0004


def insert_rows_of_0001(store: Store) -> None:
    """A case, a contact and a payment as an 0001_initial database holds them (raw SQL: the
    models already have the later columns)."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO cases (case_id, workflow_id, loan_id, borrower_id, currency, "
            "overdue_amount_minor, due_date, policy, portfolio, timezone, stage, status, "
            "days_past_due, outstanding_minor, paid_minor, planned_ladder, opened_at, updated_at) "
            "VALUES ('run-1', 'collection-L-1', 'L-1', 'B-1', 'CNY', 500000, '2026-11-01', "
            "'default', 'retail', 'Asia/Shanghai', 'reminder', 'active', 3, 500000, 0, '[]', "
            "'2026-11-04T00:00:00.000000+00:00', '2026-11-04T00:00:00.000000+00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO contact_attempts (attempt_id, case_id, loan_id, channel, template, "
            "status, days_past_due, created_at, result) VALUES ('run-1/sms/1', 'run-1', 'L-1', "
            "'sms', 'reminder_friendly', 'sent', 3, '2026-11-04T01:00:00.000000+00:00', 'sent')"
        )
        connection.exec_driver_sql(
            "INSERT INTO payments (record_id, case_id, loan_id, payment_id, amount_minor, "
            "currency, status, applied_minor, overpaid_minor, received_at) VALUES ('p-1', "
            "'run-1', 'L-1', 'p-1', 100000, 'CNY', 'applied', 100000, 0, "
            "'2026-11-05T00:00:00.000000+00:00')"
        )


def assert_rows_of_0001_kept(store: Store) -> None:
    """At the newest revision (the models read every column)."""
    (contact,) = store.contacts_of_case("run-1")
    assert (contact.attempt_id, contact.template, contact.result) == (
        "run-1/sms/1",
        "reminder_friendly",
        "sent",
    )
    assert (contact.delivery_status, contact.delivery_updated_at) == (None, None)
    assert_payment_of_0001_kept(store)


def assert_payment_of_0001_kept(store: Store) -> None:
    (payment,) = store.payments_of_case("run-1")
    assert (payment.payment_id, payment.amount_minor, payment.applied_minor) == (
        "p-1",
        100000,
        100000,
    )
    # Recorded before payments were allocated to the debt's parts: no allocation.
    assert payment.allocation is None


def payments_by_sql(store: Store, case_id: str) -> list[tuple[str, int]]:
    """A case's payments (record id, amount) at any revision: raw SQL, since the models
    have the columns of later revisions."""
    with store.engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT record_id, amount_minor FROM payments WHERE case_id = :case_id "
                "ORDER BY record_id"
            ),
            {"case_id": case_id},
        )
        return [(record_id, amount) for record_id, amount in found]


def insert_payment_by_sql(store: Store, case_id: str, record_id: str, payment_id: str) -> None:
    """An applied payment of 50000 as 0005 to 0007 hold it (raw SQL, as `payments_by_sql`)."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO payments (record_id, case_id, loan_id, payment_id, amount_minor, "
                "currency, status, applied_minor, overpaid_minor, received_at) VALUES "
                "(:record_id, :case_id, :loan_id, :payment_id, 50000, 'CNY', 'applied', 50000, "
                "0, '2026-11-06T00:00:00.000000+00:00')"
            ),
            {
                "record_id": record_id,
                "case_id": case_id,
                "loan_id": f"L-{case_id}",
                "payment_id": payment_id,
            },
        )


def database_url(store: Store) -> str:
    """`DATABASE_URL` for `store` as a deployment writes it (PostgreSQL: the schema through
    the search_path, as the Store's own `schema=` does)."""
    if store.schema is None:
        return store.engine.url.render_as_string(hide_password=False)
    return f"{os.environ[POSTGRES_ENV]}?options=-csearch_path%3D{store.schema}"


def test_the_initial_revision_makes_the_tables_create_all_made() -> None:
    with scratch_database(INITIAL_REVISION) as connection:
        made = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
    assert made == CREATE_ALL_TABLES


# -- upgrade from empty ------------------------------------------------------------------------
def test_upgrade_from_empty_makes_exactly_the_tables_of_tables_py(blank_store: Store) -> None:
    assert blank_store.schema_status().state == "empty"
    migration = blank_store.migrate()
    assert (migration.before, migration.after, migration.adopted) == (None, HEAD, False)
    with blank_store.engine.connect() as connection:
        assert differences(connection) == []
    assert table_names(blank_store) == set(SQLModel.metadata.tables) | {VERSION_TABLE}
    assert blank_store.schema_revision() == HEAD
    assert blank_store.schema_status().at_head


def test_differences_name_a_table_or_column_that_no_revision_makes(blank_store: Store) -> None:
    """What the test above says when tables.py gains a column without a migration."""
    blank_store.migrate(INITIAL_REVISION)
    with blank_store.engine.connect() as connection:
        found = differences(connection)
    missing = ": in migrations/tables.py but made by no revision: add a migration"
    assert {
        f"column contact_attempts.{name}{missing}"
        for name in ("delivery_status", "delivery_updated_at")
    } | {f"table borrowers{missing}"} <= set(found), found


def test_postgres_tables_and_version_live_in_the_stores_own_schema(blank_store: Store) -> None:
    blank_store.migrate()
    with blank_store.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            versions = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
            assert versions.scalars().all() == [HEAD]
            return
        where = connection.exec_driver_sql(
            "SELECT table_schema, count(*) FROM information_schema.tables "
            "WHERE table_name IN ('alembic_version', 'cases', 'contact_attempts') "
            "GROUP BY table_schema"
        ).all()
        version = connection.exec_driver_sql(
            f'SELECT version_num FROM "{blank_store.schema}".{VERSION_TABLE}'
        ).scalar_one()
    # Nothing in public or in another test's schema is ours.
    assert (blank_store.schema, 3) in where
    assert version == HEAD


def test_migrate_twice_changes_nothing(store: Store) -> None:
    again = store.migrate()
    assert (again.before, again.after) == (HEAD, HEAD)


# -- upgrade from 0001 ---------------------------------------------------------------------------
def test_upgrade_from_0001_to_0002_keeps_the_rows(blank_store: Store) -> None:
    blank_store.migrate(INITIAL_REVISION)
    insert_rows_of_0001(blank_store)
    status = blank_store.schema_status()
    assert (status.revision, status.state) == (INITIAL_REVISION, "behind")

    migration = blank_store.migrate()

    assert (migration.before, migration.after) == (INITIAL_REVISION, HEAD)
    assert_rows_of_0001_kept(blank_store)
    # The new columns take what a delivery receipt says.
    updated = blank_store.update(
        ContactAttemptRow,
        "run-1/sms/1",
        delivery_status="delivered",
        delivery_updated_at="2026-11-04T01:00:05.000000+00:00",
    )
    assert updated is not None
    (contact,) = blank_store.contacts_of_case("run-1")
    assert contact.delivery_status == "delivered"


# -- 0005: payments keyed by case and record --------------------------------------------------
def applied_payment(case_id: str, record_id: str, payment_id: str) -> PaymentRow:
    return PaymentRow(
        case_id=case_id,
        record_id=record_id,
        loan_id=f"L-{case_id}",
        payment_id=payment_id,
        amount_minor=50000,
        currency="CNY",
        status="applied",
        applied_minor=50000,
        received_at="2026-11-06T00:00:00.000000+00:00",
    )


def payments_key(store: Store) -> tuple[str | None, list[str]]:
    with store.engine.connect() as connection:
        key = inspect(connection).get_pk_constraint("payments", schema=store.schema)
    return key["name"], key["constrained_columns"]


def test_upgrade_from_0004_keys_payments_by_case_and_keeps_the_rows(blank_store: Store) -> None:
    blank_store.migrate("0004_borrower_channels")
    insert_rows_of_0001(blank_store)
    assert payments_key(blank_store)[1] == ["record_id"]

    blank_store.migrate("0005_payments_by_case")

    assert payments_by_sql(blank_store, "run-1") == [("p-1", 100000)]
    assert payments_key(blank_store) == ("payments_pkey", ["case_id", "record_id"])
    # Another loan paid under the same payment id: a row of its own.
    insert_payment_by_sql(blank_store, "run-2", "p-1", "p-1")
    assert payments_by_sql(blank_store, "run-2") == [("p-1", 50000)]
    # The same case's record again conflicts with the one already there.
    with pytest.raises(IntegrityError):
        insert_payment_by_sql(blank_store, "run-1", "p-1", "p-1")
    # The copied table (SQLite) kept its indexes: an applied payment still counts once a case.
    with pytest.raises(IntegrityError):
        insert_payment_by_sql(blank_store, "run-1", "p-1-again", "p-1")
    assert payments_by_sql(blank_store, "run-1") == [("p-1", 100000)]
    # The later revisions keep them too.
    blank_store.migrate()
    assert_rows_of_0001_kept(blank_store)
    assert not blank_store.insert_if_absent(applied_payment("run-1", "p-1", "p-1"))
    with pytest.raises(IntegrityError):
        blank_store.insert_if_absent(applied_payment("run-1", "p-1-again", "p-1"))
    with blank_store.engine.connect() as connection:
        assert differences(connection) == []


def test_downgrade_from_0005_refuses_while_cases_share_a_record_id(blank_store: Store) -> None:
    blank_store.migrate("0005_payments_by_case")
    insert_rows_of_0001(blank_store)
    insert_payment_by_sql(blank_store, "run-2", "p-1", "p-1")

    def downgrade() -> None:
        with blank_store.engine.begin() as connection:
            command.downgrade(
                alembic_config(connection, schema=blank_store.schema), "0004_borrower_channels"
            )

    with pytest.raises(RuntimeError, match="cases share record ids p-1"):
        downgrade()
    assert blank_store.schema_revision() == "0005_payments_by_case"
    assert len(payments_by_sql(blank_store, "run-2")) == 1

    with blank_store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM payments WHERE case_id = 'run-2'")
    downgrade()
    assert payments_key(blank_store)[1] == ["record_id"]
    assert payments_by_sql(blank_store, "run-1") == [("p-1", 100000)]


def test_attempts_that_may_be_at_the_provider_look_there_after_0007(blank_store: Store) -> None:
    """Rows still pending or unconfirmed from before 0007 may have reached their provider:
    their next try asks it first (send_tries 1), from when the attempt was recorded."""
    blank_store.migrate("0004_borrower_channels")
    insert_rows_of_0001(blank_store)
    with blank_store.engine.begin() as connection:
        for attempt_id, status in (("run-1/sms/2", "pending"), ("run-1/sms/3", "unconfirmed")):
            connection.exec_driver_sql(
                "INSERT INTO contact_attempts (attempt_id, case_id, loan_id, channel, template, "
                f"status, days_past_due, created_at) VALUES ('{attempt_id}', 'run-1', 'L-1', "
                f"'sms', 'reminder_friendly', '{status}', 3, '2026-11-04T02:00:00.000000+00:00')"
            )

    blank_store.migrate()

    state = {
        contact.attempt_id: (contact.send_tries, contact.send_started_at, contact.status)
        for contact in blank_store.contacts_of_case("run-1")
    }
    assert state == {
        "run-1/sms/1": (0, None, "sent"),
        "run-1/sms/2": (1, "2026-11-04T02:00:00.000000+00:00", "pending"),
        "run-1/sms/3": (1, "2026-11-04T02:00:00.000000+00:00", "unconfirmed"),
    }


# -- 0008: the debt by part -----------------------------------------------------------------------
def test_rows_from_before_0008_have_no_parts_and_a_snapshot_fills_the_cases(
    blank_store: Store,
) -> None:
    """Payments and cases recorded before debts had parts are kept as they were, their parts
    NULL (nothing recorded them); the case's next snapshot brings its balance by part."""
    blank_store.migrate("0007_attempt_send_state")
    insert_rows_of_0001(blank_store)

    blank_store.migrate("0008_debt_by_part")
    # The models read every column of the newest revision; later ones leave the parts alone.
    blank_store.migrate()

    assert_rows_of_0001_kept(blank_store)
    case = blank_store.get(CaseRow, "run-1")
    assert case is not None
    assert (case.status, case.outstanding_minor, case.paid_minor) == ("active", 500000, 0)
    assert (case.balance, case.balance_as_of) == (None, None)
    balance = {
        "principal_minor": 300000,
        "interest_minor": 50000,
        "fees_minor": 40000,
        "penalty_minor": 10000,
    }
    with blank_store.session() as session:
        assert apply_snapshot(
            session,
            CaseSnapshot(
                case_id="run-1",
                loan_id="L-1",
                stage="reminder",
                status="active",
                days_past_due=5,
                outstanding_minor=400000,
                paid_minor=100000,
                at="2026-11-06T00:00:00+00:00",
                balance=balance,
                balance_as_of="2026-11-06T08:00:00+08:00",
            ),
        )
    case = blank_store.get(CaseRow, "run-1")
    assert case is not None
    assert (case.balance, case.balance_as_of) == (balance, "2026-11-06T00:00:00.000000+00:00")

    # Down again: the rows stay, without their parts.
    with blank_store.engine.begin() as connection:
        command.downgrade(
            alembic_config(connection, schema=blank_store.schema), "0007_attempt_send_state"
        )
    assert payments_by_sql(blank_store, "run-1") == [("p-1", 100000)]


# -- a database made by create_all before migrations ---------------------------------------------
def test_a_legacy_database_is_adopted_and_upgraded(blank_store: Store) -> None:
    make_legacy_database(blank_store)
    insert_rows_of_0001(blank_store)
    postgres = blank_store.engine.dialect.name == "postgresql"
    if postgres:
        # Versions before the amounts became BIGINT made them INTEGER; an older source was
        # a shorter varchar.
        with blank_store.engine.begin() as connection:
            connection.exec_driver_sql(
                "ALTER TABLE payments ALTER COLUMN amount_minor TYPE INTEGER, "
                "ALTER COLUMN source TYPE VARCHAR(32)"
            )
    assert blank_store.schema_status().state == "legacy"

    migration = blank_store.migrate()

    assert (migration.before, migration.after, migration.adopted) == (None, HEAD, True)
    widened = ("payments.amount_minor", "payments.source") if postgres else ()
    assert migration.widened == widened
    assert_rows_of_0001_kept(blank_store)
    with blank_store.engine.connect() as connection:
        assert differences(connection) == []
    # An amount above 2^31 - 1 now fits.
    blank_store.update(PaymentRow, ("run-1", "p-1"), amount_minor=2**53 - 1)
    (payment,) = blank_store.payments_of_case("run-1")
    assert payment.amount_minor == 2**53 - 1


def test_a_legacy_database_that_lacks_a_table_or_column_is_refused_unchanged(
    blank_store: Store,
) -> None:
    make_legacy_database(blank_store)
    with blank_store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE field_visits")
        connection.exec_driver_sql("ALTER TABLE payments DROP COLUMN source")

    with pytest.raises(SchemaError) as refused:
        blank_store.migrate()

    message = str(refused.value)
    assert "missing table field_visits, column payments.source" in message
    assert "Nothing was changed" in message
    assert blank_store.schema_status().state == "legacy"
    assert VERSION_TABLE not in table_names(blank_store)


def test_a_revision_this_version_does_not_know_is_refused(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'")
    status = store.schema_status()
    assert (status.revision, status.state) == ("0099_future", "unknown")
    assert "0099_future" not in known_revisions()
    with pytest.raises(SchemaNotCurrent, match="0099_future, which this version does not know"):
        store.migrate()
    with pytest.raises(SchemaNotCurrent):
        store.require_current_schema()


# -- what a worker accepts -----------------------------------------------------------------------
def test_a_worker_creates_an_empty_database(blank_store: Store) -> None:
    blank_store.require_current_schema()
    assert blank_store.schema_revision() == HEAD


@pytest.mark.parametrize("made_by", ["0001", "create_all"])
def test_a_worker_refuses_a_database_behind_the_newest_revision(
    blank_store: Store, made_by: str
) -> None:
    if made_by == "0001":
        blank_store.migrate(INITIAL_REVISION)
    else:
        make_legacy_database(blank_store)
    with pytest.raises(SchemaNotCurrent, match=r"run `python starter\.py migrate`"):
        blank_store.require_current_schema()
    # Refusing changed nothing.
    assert blank_store.schema_revision() == (INITIAL_REVISION if made_by == "0001" else None)


def test_the_worker_check_logs_and_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate_to(url, INITIAL_REVISION)
    monkeypatch.setenv("DATABASE_URL", url)
    with capture_logs() as logs, pytest.raises(worker.CaseDatabaseNotReady):
        worker.check_case_database()
    (entry,) = logs
    assert entry["log_level"] == "error"
    assert (entry["revision"], entry["head"]) == (INITIAL_REVISION, HEAD)
    assert "python starter.py migrate" in entry["event"]
    assert "start the worker again" in entry["event"]


# -- starter.py migrate --------------------------------------------------------------------------
async def test_starter_migrate_prints_from_and_to_and_is_idempotent(blank_store: Store) -> None:
    blank_store.migrate(INITIAL_REVISION)
    url = database_url(blank_store)
    env = {**os.environ, "DATABASE_URL": url}

    code, out, err = await run_process("starter.py", env, "migrate")
    assert code == 0, err
    (line,) = out.splitlines()
    assert line.startswith("case database ") and f"{make_url(url).database}" in line
    assert line.endswith(f": {INITIAL_REVISION} -> {HEAD}")
    assert blank_store.schema_revision() == HEAD

    code, out, err = await run_process("starter.py", env, "migrate")
    assert code == 0, err
    assert out.strip().endswith(f": at {HEAD} already, nothing to do")


async def test_starter_migrate_reports_an_adopted_legacy_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    make_legacy_database(Store.from_url(url))
    monkeypatch.setenv("DATABASE_URL", url)
    assert await starter.run(["migrate"]) == 0
    assert capsys.readouterr().out == (
        f"case database {url}: tables made before migrations (adopted as {INITIAL_REVISION}) "
        f"-> {HEAD}\n"
    )


async def test_starter_migrate_of_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert await starter.run(["migrate"]) == 0
    assert capsys.readouterr().out == f"case database {url}: empty -> {HEAD}\n"


async def test_starter_migrate_refuses_what_it_cannot_adopt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    legacy = Store.from_url(url)
    make_legacy_database(legacy)
    with legacy.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE case_events")
    monkeypatch.setenv("DATABASE_URL", url)
    assert await starter.run(["migrate"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"case database {url}: " in captured.err
    assert "missing table case_events" in captured.err
