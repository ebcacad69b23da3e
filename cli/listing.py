"""Finding cases through visibility: the list query over the search attributes, and rows.

Days past due is not a search attribute (it would only stay current by waking every case
daily). It is counted here from `DueDate`, and "at least N days past due" becomes a query
on `DueDate`. Both count calendar days in UTC: the case itself counts in the borrower's
timezone, so near midnight a row can differ from the case's own DPD by one day. A case
under a policy with a fast clock (`demo`: a "day" of seconds) counts its days from its
opening, so its row does the same, from the start of the case's first run.

A case that continued as new (before Temporal's limits on one run) is its latest run: the runs
it left behind stay listed by Temporal, closed as ContinuedAsNew with the search attributes of
their time, and are not cases of their own.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from cli.arguments import ClientFactory, CommandSet, non_negative_int, positive_int
from cli.cases import WORKFLOW_TYPE, policy_named
from cli.console import EXIT_OK, UsageError, out
from cli.render import table
from domain.case_status import CASE_STAGES, CASE_STATUSES
from domain.clock import BUCKETS, SECONDS_PER_DAY, calendar_days_past_due, case_clock
from domain.errors import InvalidInput
from domain.money import format_money
from domain.policy import Policy
from workflows import search_attributes as sa

# Values put into a visibility query are restricted to these characters (no quoting tricks;
# `+` for the bucket M4+).
QUERY_VALUE = re.compile(r"[A-Za-z0-9._ +-]{1,64}")
# How visibility names a run that handed its case over to a new run (continue-as-new).
HANDED_OVER = "ContinuedAsNew"


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
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'", f"ExecutionStatus != '{HANDED_OVER}'"]
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


def fast_clock(policy_name: str | None) -> Policy | None:
    """The case's policy if its clock is fast (a "day" of seconds, as `demo`'s), else None
    (real days, or a policy this command does not know)."""
    try:
        policy = policy_named(policy_name) if policy_name else None
    except InvalidInput:
        return None
    return policy if policy is not None and policy.day_seconds != SECONDS_PER_DAY else None


def case_days_past_due(
    due: datetime | None, policy_name: str | None, started: datetime | None, now: datetime
) -> int | None:
    """The case's own DPD where its policy's clock tells it apart from the calendar (a fast
    clock, counted from the case's opening `started` as the case counts it; None while that is
    not known), else `days_past_due`."""
    policy = fast_clock(policy_name)
    if due is None or policy is None:
        return days_past_due(due, now)
    if started is None:
        return None
    due_date = due.astimezone(UTC).date()
    return case_clock(due_date, policy.default_timezone, started, policy.day_seconds).days_past_due(
        now
    )


async def case_opening(client: Client, execution: WorkflowExecution) -> datetime | None:
    """When the case was opened: the start of its first run. A run that continued the case
    (continue-as-new) starts later, but the case's clock still counts from its opening. The
    list does not say which run was the first, so the run is described; None if the first run
    is no longer known (past the namespace's retention)."""
    run = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    first_run_id = (await run.describe()).raw_description.workflow_execution_info.first_run_id
    if not first_run_id or first_run_id == execution.run_id:
        return execution.start_time
    first_run = client.get_workflow_handle(execution.id, run_id=first_run_id)
    try:
        return (await first_run.describe()).start_time
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def case_rows(
    client: Client, query: str, *, limit: int, now: datetime | None = None
) -> list[tuple[Any, ...]]:
    """One row (`CASE_COLUMNS`) per case the query finds, from its search attributes and memo
    (and, for a case on a fast clock, its opening)."""
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
        policy_name = attributes.get(sa.POLICY)
        # Only a fast clock counts from the opening, which may take asking the server.
        opened = await case_opening(client, execution) if fast_clock(policy_name) else None
        dpd = case_days_past_due(attributes.get(sa.DUE_DATE), policy_name, opened, now)
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


async def cmd_list(args: argparse.Namespace, connect: ClientFactory) -> int:
    query = list_query(
        stage=args.stage,
        status=args.status,
        bucket=args.bucket,
        policy=args.policy,
        portfolio=args.portfolio,
        min_dpd=args.min_dpd,
        max_dpd=args.max_dpd,
    )
    rows = await case_rows(await connect(), query, limit=args.limit)
    if rows:
        out(table(CASE_COLUMNS, rows))
    out(f"{len(rows)} case(s)")
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add("list", cmd_list, "List cases by their search attributes.")
    p.epilog = (
        "Days past due (the dpd column, --min-dpd, --max-dpd) count calendar days in UTC "
        "from the DueDate search attribute; the case counts in the borrower's timezone, "
        "so near midnight they can differ by one day. Under a fast-clock policy (demo) the "
        "dpd column is the case's own count since its opening (the start of its first run, "
        "also after it continued as new); the filters stay calendar days."
    )
    p.add_argument("--stage", choices=CASE_STAGES)
    p.add_argument("--status", choices=CASE_STATUSES)
    p.add_argument("--bucket", choices=BUCKETS)
    p.add_argument(
        "--min-dpd", type=non_negative_int, metavar="DAYS", help="at least DAYS past due"
    )
    p.add_argument("--max-dpd", type=non_negative_int, metavar="DAYS", help="at most DAYS past due")
    p.add_argument("--policy")
    p.add_argument("--portfolio")
    p.add_argument("--limit", type=positive_int, default=100, help="default 100")
