"""Finding cases through visibility: the list query over the search attributes, and rows.

Days past due is not a search attribute (it would only stay current by waking every case
daily). It is counted here from `DueDate`, and "at least N days past due" becomes a query
on `DueDate`. Both count calendar days in UTC: the case itself counts in the borrower's
timezone, so near midnight a row can differ from the case's own DPD by one day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio.client import Client

from cli.cases import WORKFLOW_TYPE
from cli.console import UsageError
from domain.clock import calendar_days_past_due
from domain.money import format_money
from workflows import search_attributes as sa

# Values put into a visibility query are restricted to these characters (no quoting tricks;
# `+` for the bucket M4+).
QUERY_VALUE = re.compile(r"[A-Za-z0-9._ +-]{1,64}")
# The values of `domain.clock.bucket`.


def _midnight_utc(day: date) -> str:
    """A day's start as a visibility Datetime literal."""
    return datetime.combine(day, time(0), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def due_date_clauses(*, today: date, min_dpd: int | None, max_dpd: int | None) -> list[str]:
    """`DueDate` conditions for min_dpd <= DPD <= max_dpd, DPD = today - due date (UTC days).

    DPD >= N is "due on or before today - N", written as "before the next midnight" so a
    due date stored with a time of day still counts by its date; DPD <= N is "due on or
    after today - N".
    """
    if min_dpd is not None and max_dpd is not None and min_dpd > max_dpd:
        raise UsageError(f"--min-dpd {min_dpd} is greater than --max-dpd {max_dpd}")
    clauses = []
    if min_dpd is not None:
        if min_dpd < 0:
            raise UsageError("--min-dpd must be 0 or more")
        latest_due = today - timedelta(days=min_dpd)
        clauses.append(f"{sa.DUE_DATE.name} < '{_midnight_utc(latest_due + timedelta(days=1))}'")
    if max_dpd is not None:
        if max_dpd < 0:
            raise UsageError("--max-dpd must be 0 or more")
        earliest_due = today - timedelta(days=max_dpd)
        clauses.append(f"{sa.DUE_DATE.name} >= '{_midnight_utc(earliest_due)}'")
    return clauses


def list_query(
    *,
    stage: str | None = None,
    status: str | None = None,
    bucket: str | None = None,
    policy: str | None = None,
    portfolio: str | None = None,
    min_dpd: int | None = None,
    max_dpd: int | None = None,
    today: date | None = None,
) -> str:
    """A visibility query over the case search attributes; values are checked, not quoted.

    `today` (default: today in UTC) anchors the days-past-due filters.
    """
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    for key, value in (
        (sa.STAGE, stage),
        (sa.STATUS, status),
        (sa.BUCKET, bucket),
        (sa.POLICY, policy),
        (sa.PORTFOLIO, portfolio),
    ):
        if value is None:
            continue
        if not QUERY_VALUE.fullmatch(value):
            raise UsageError(
                f"{key.name}: {value!r} may only use letters, digits and . _ - + space"
            )
        clauses.append(f"{key.name} = '{value}'")
    clauses += due_date_clauses(
        today=today or datetime.now(UTC).date(), min_dpd=min_dpd, max_dpd=max_dpd
    )
    return " AND ".join(clauses)


CASE_COLUMNS = ("loan_id", "stage", "status", "bucket", "dpd", "outstanding")


def days_past_due(due: datetime | None, now: datetime) -> int | None:
    """DPD from the `DueDate` attribute (midnight UTC of the due date), in UTC calendar days."""
    if due is None:
        return None
    return calendar_days_past_due(due.astimezone(UTC).date(), now, "UTC")


async def case_rows(
    client: Client, query: str, *, limit: int, now: datetime | None = None
) -> list[tuple[Any, ...]]:
    """One row (`CASE_COLUMNS`) per case the query finds, from its search attributes and memo."""
    now = now or datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        outstanding = attributes.get(sa.OUTSTANDING_MINOR)
        currency = await execution.memo_value("currency", None, type_hint=str)
        if outstanding is None:
            amount = "-"
        elif currency:
            amount = format_money(outstanding, currency)
        else:
            amount = str(outstanding)
        dpd = days_past_due(attributes.get(sa.DUE_DATE), now)
        rows.append(
            (
                attributes.get(sa.LOAN_ID) or execution.id.removeprefix("collection-"),
                attributes.get(sa.STAGE) or "-",
                attributes.get(sa.STATUS) or "-",
                attributes.get(sa.BUCKET) or "-",
                "-" if dpd is None else dpd,
                amount,
            )
        )
    return rows
