"""The portfolio report's rows, read from the case database alone (no Temporal server).

The `cases`, `payments` and `case_events` tables hold no personal data; only the columns the
figures of `domain.report` need are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import inspect
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from activities.store import Store, normalize_url
from cli.console import UsageError
from domain.debt import Parts
from domain.report import (
    CHARGE_KINDS,
    COMMITMENT_KINDS,
    AsOf,
    PortfolioReport,
    ReportCase,
    ReportEvent,
    ReportPayment,
    build_report,
)
from migrations.tables import PART_COLUMNS, CaseEventRow, CaseRow, PaymentRow, parts_of

EARTH_AHEAD = timedelta(hours=14)
CASE_COLUMNS = (
    "case_id",
    "currency",
    "overdue_amount_minor",
    "due_date",
    "timezone",
    "stage",
    "days_past_due",
    "opened_at",
    "updated_at",
    "closed_at",
    "status",
    "outstanding_minor",
    *PART_COLUMNS,
)
PAYMENT_COLUMNS = ("case_id", "applied_minor", "received_at", *PART_COLUMNS)


class ReportError(Exception):
    """The case database cannot be read as a report needs (missing, empty of tables, bad row)."""


@dataclass(frozen=True)
class ReportRows:
    cases: list[ReportCase]
    payments: list[ReportPayment]
    events: list[ReportEvent]


def open_case_database(url: str) -> Store:
    """The case database at `url`, refusing (not creating) a SQLite file that is not there."""
    parsed = make_url(normalize_url(url))
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
    # Connecting would create an empty file: say instead that there is none.
    if on_disk and not Path(str(database)).exists():
        raise ReportError(f"no case database at {database} (DATABASE_URL={shown})")
    store = Store.from_url(url)
    try:
        has_cases = inspect(store.engine).has_table(CaseRow.__tablename__)
    except SQLAlchemyError as error:
        store.dispose()
        raise ReportError(f"cannot read the case database {shown}: {error}") from error
    if not has_cases:
        store.dispose()
        raise ReportError(f"the case database {shown} has no cases table yet")
    return store


EVENT_COLUMNS = ("case_id", "kind", "ref_id", "at", "detail")


def read_rows(store: Store) -> ReportRows:
    """The rows the report counts: every case, applied payments, commitment events."""
    with store.reading() as session:
        # The columns the report reads, not whole rows (`planned_ladder` is long text).
        case_rows = session.execute(
            sa_select(*(col(getattr(CaseRow, name)) for name in CASE_COLUMNS)).order_by(
                col(CaseRow.case_id)
            )
        ).all()
        payment_rows = session.execute(
            sa_select(*(col(getattr(PaymentRow, name)) for name in PAYMENT_COLUMNS)).where(
                col(PaymentRow.status) == "applied"
            )
        ).all()
        event_rows = session.execute(
            sa_select(*(col(getattr(CaseEventRow, name)) for name in EVENT_COLUMNS)).where(
                col(CaseEventRow.kind).in_((*COMMITMENT_KINDS, *CHARGE_KINDS))
            )
        ).all()
    return ReportRows(
        cases=[report_case(dict(zip(CASE_COLUMNS, row, strict=True))) for row in case_rows],
        payments=[_payment(dict(zip(PAYMENT_COLUMNS, row, strict=True))) for row in payment_rows],
        events=[
            ReportEvent(
                case_id, kind, ref_id or "", _instant(at, case_id, "at"), _amount(kind, detail)
            )
            for case_id, kind, ref_id, at, detail in event_rows
        ],
    )


def _amount(kind: str, detail: str | None) -> int:
    """The amount a debt-changing event (`CHARGE_KINDS`) records; 0 for any other."""
    if kind not in CHARGE_KINDS or not detail:
        return 0
    amount = json.loads(detail).get("amount_minor")
    return amount if isinstance(amount, int) else 0


def report_case(row: dict[str, Any]) -> ReportCase:
    """A row of `cases` (the columns `CASE_COLUMNS`) as the report reads it."""
    case_id, timezone, due_date = row["case_id"], row["timezone"], row["due_date"]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ReportError(f"case {case_id}: timezone {timezone!r} is not an IANA name") from error
    try:
        due = date.fromisoformat(due_date)
    except ValueError as error:
        raise ReportError(f"case {case_id}: due_date {due_date!r} is not a date") from error
    return ReportCase(
        case_id=case_id,
        currency=row["currency"],
        overdue_amount_minor=row["overdue_amount_minor"],
        due_date=due,
        timezone=timezone,
        stage=row["stage"],
        days_past_due=row["days_past_due"],
        opened_at=_instant(row["opened_at"], case_id, "opened_at"),
        updated_at=_instant(row["updated_at"], case_id, "updated_at"),
        closed_at=_instant(row["closed_at"], case_id, "closed_at") if row["closed_at"] else None,
        status=row["status"],
        outstanding_minor=row["outstanding_minor"],
        balance=_parts(row),
    )


def _payment(row: dict[str, Any]) -> ReportPayment:
    case_id = row["case_id"]
    return ReportPayment(
        case_id=case_id,
        applied_minor=row["applied_minor"],
        received_at=_instant(row["received_at"], case_id, "received_at"),
        allocation=_parts(row),
    )


def _parts(row: dict[str, Any]) -> Parts | None:
    """A row's parts (a case's balance, a payment's allocation); None where none was
    recorded."""
    values = parts_of(row)
    return None if values is None else Parts(**values)


def _instant(text: str, case_id: str, column: str) -> datetime:
    """A stored timestamp (UTC ISO-8601, see `activities.store.utc_iso`) as an aware instant."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise ReportError(f"case {case_id}: {column} {text!r} is not a timestamp") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_as_of(text: str | None, now: datetime) -> AsOf:
    """`--as-of YYYY-MM-DD`, not after the latest date on any borrower's calendar."""
    if text is None:
        return AsOf(now=now)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None
    if day > (now.astimezone(UTC) + EARTH_AHEAD).date():
        raise UsageError(f"--as-of: {day} is in the future")
    return AsOf(now=now, day=day)


def load_report(store: Store, as_of: AsOf) -> PortfolioReport:
    rows = read_rows(store)
    return build_report(rows.cases, rows.payments, rows.events, as_of)
