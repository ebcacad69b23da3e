"""The command line of the collection system: open, import, pay, status, list, demo, ...

    python starter.py open --loan-id L-1001 --borrower-id B-77 --currency CNY \\
        --amount-minor 500000 --due-date 2026-01-05
    python starter.py import data/loans.csv
    python starter.py pay L-1001 --amount-minor 100000 --currency CNY
    python starter.py status L-1001
    python starter.py list --stage phone
    python starter.py demo

Every command connects as `settings.connect_client()` says (envconfig profile or
`TEMPORAL_ADDRESS`, default localhost:7233). Exit codes: 0 ok, 2 bad input (nothing
was sent), 1 any other error. Printed lines carry loan ids, never a borrower's
personal data (except where the operator typed it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import settings
from domain.case import CaseInput, parse_case_input
from domain.case_state import FINAL_STATUSES
from domain.clock import bucket, calendar_days_past_due
from domain.errors import InvalidInput
from domain.messages import CONTACT_OUTCOMES, HOLD_KINDS, LEGAL_EVENTS, VISIT_OUTCOMES
from domain.money import format_money
from domain.policy import Policy
from policies import load_policy
from workflows import search_attributes as sa

WORKFLOW_TYPE = "CollectionCase"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
STAGES = ("preparation", "grace", "reminder", "phone", "field_visit", "legal", "closed")
STATUSES = ("active", "promise_pending", "in_plan", "on_hold", *FINAL_STATUSES)
# How long a command waits for an update or query answer (a worker must be running).
ANSWER_TIMEOUT_SECONDS = 30.0
# Values put into a visibility query are restricted to these characters (no quoting tricks).
QUERY_VALUE = re.compile(r"[A-Za-z0-9._ -]{1,64}")

CSV_REQUIRED_COLUMNS = ("loan_id", "borrower_id", "currency", "overdue_amount_minor")
INTEGER = re.compile(r"[+-]?[0-9]+")


class UsageError(Exception):
    """Bad command-line input detected before anything was sent: exit code 2."""


def workflow_id(loan_id: str) -> str:
    return f"collection-{loan_id}"


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Validating and opening a case
# --------------------------------------------------------------------------------------
_POLICY_CACHE: dict[str, Policy] = {}


def _policy(name: str) -> Policy:
    if name not in _POLICY_CACHE:
        _POLICY_CACHE[name] = load_policy(name)
    return _POLICY_CACHE[name]


def validate_case(raw: Any, *, now: datetime) -> tuple[CaseInput, Policy]:
    """The contract's checks plus a known policy; raises `InvalidInput` naming the field."""
    case = parse_case_input(raw, now=now)
    try:
        policy = _policy(case.policy)
    except InvalidInput as error:
        # An unknown name is the case's fault; a broken policy file names the file.
        raise InvalidInput(
            error.field if error.field.startswith("policies/") else "policy", error.problem
        ) from None
    return case, policy


def case_payload(case: CaseInput) -> dict[str, Any]:
    """The start argument: the validated case as a plain JSON object, empty fields left out."""
    data = asdict(case)
    data["borrower"] = {k: v for k, v in data["borrower"].items() if v is not None}
    return data


def static_summary(case: CaseInput) -> str:
    return f"Loan {case.loan_id} · {format_money(case.overdue_amount_minor, case.currency)} overdue"


def initial_search_attributes(
    case: CaseInput, policy: Policy, *, now: datetime
) -> TypedSearchAttributes:
    """Ids, amounts and classifications only: no personal data."""
    due = case.due
    timezone = case.borrower.timezone or policy.default_timezone
    days_past_due = calendar_days_past_due(due, now, timezone)
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.STAGE, "preparation"),
            SearchAttributePair(sa.STATUS, "active"),
            SearchAttributePair(sa.POLICY, case.policy),
            SearchAttributePair(sa.PORTFOLIO, case.portfolio),
            SearchAttributePair(sa.LOAN_ID, case.loan_id),
            SearchAttributePair(sa.OUTSTANDING_MINOR, case.overdue_amount_minor),
            SearchAttributePair(sa.DUE_DATE, datetime(due.year, due.month, due.day, tzinfo=UTC)),
            SearchAttributePair(sa.DAYS_PAST_DUE, days_past_due),
            SearchAttributePair(sa.BUCKET, bucket(days_past_due)),
        ]
    )


OpenOutcome = Literal["opened", "already_open", "closed"]


@dataclass(frozen=True)
class OpenResult:
    loan_id: str
    workflow_id: str
    outcome: OpenOutcome
    run_id: str | None = None

    def describe(self) -> str:
        if self.outcome == "opened":
            return f"{self.loan_id}: opened case {self.workflow_id}"
        if self.outcome == "already_open":
            return f"{self.loan_id}: case {self.workflow_id} is already open (existing case kept)"
        return f"{self.loan_id}: case {self.workflow_id} is closed; it is not reopened"


async def open_case(client: Client, raw: Mapping[str, Any], *, now: datetime) -> OpenResult:
    """Validate `raw` and start its case; a second start of an open case returns the open one.

    Raises `InvalidInput` (nothing started) for a bad case. A loan whose case completed
    successfully is not reopened (`outcome == "closed"`); a failed one may be.
    """
    case, policy = validate_case(raw, now=now)
    wf_id = workflow_id(case.loan_id)
    try:
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            case_payload(case),
            id=wf_id,
            task_queue=settings.task_queue(),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=static_summary(case),
            memo={"currency": case.currency},
            search_attributes=initial_search_attributes(case, policy, now=now),
        )
    except WorkflowAlreadyStartedError as error:
        return OpenResult(case.loan_id, wf_id, "closed", error.run_id)
    # With USE_EXISTING the server answers `started = false` when it kept a running case.
    response = getattr(handle, "_start_workflow_response", None)
    started = bool(getattr(response, "started", True))
    return OpenResult(
        case.loan_id, wf_id, "opened" if started else "already_open", handle.result_run_id
    )


# --------------------------------------------------------------------------------------
# CSV import
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvCase:
    line: int
    loan_id: str
    raw: dict[str, Any]
    behaviour: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    problem: str

    def describe(self) -> str:
        return f"line {self.line}: {self.field}: {self.problem}"


@dataclass
class CsvBatch:
    cases: list[CsvCase] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _cell(row: Mapping[str, str | None], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _due_date(row: Mapping[str, str | None], now: datetime) -> str:
    """`due_date` as given, or today (borrower's timezone, else UTC) minus `days_overdue`."""
    due = _cell(row, "due_date")
    if due:
        return due
    days = _cell(row, "days_overdue")
    if not days:
        raise InvalidInput("due_date", "is required (or give days_overdue)")
    if not days.isdigit():
        raise InvalidInput("days_overdue", "must be a whole number of days (0 or more)")
    timezone = _cell(row, "timezone")
    try:
        today = now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ValueError, KeyError):
        raise InvalidInput("borrower.timezone", f"unknown IANA timezone {timezone!r}") from None
    return (today - timedelta(days=int(days))).isoformat()


def case_from_row(
    row: Mapping[str, str | None], *, now: datetime, policy: str | None = None
) -> dict[str, Any]:
    """A CSV row as the start input; `policy` (the --policy flag) overrides the column."""
    amount_text = _cell(row, "overdue_amount_minor")
    amount: Any = int(amount_text) if INTEGER.fullmatch(amount_text) else amount_text or None
    borrower = {
        "borrower_id": _cell(row, "borrower_id"),
        "name": _cell(row, "name"),
        "phone": _cell(row, "phone"),
        "email": _cell(row, "email"),
        "address": _cell(row, "address"),
        "timezone": _cell(row, "timezone"),
        "locale": _cell(row, "locale"),
    }
    raw: dict[str, Any] = {
        "loan_id": _cell(row, "loan_id"),
        "borrower": {k: v for k, v in borrower.items() if v},
        "currency": _cell(row, "currency"),
        "overdue_amount_minor": amount,
        "due_date": _due_date(row, now),
        "policy": policy or _cell(row, "policy"),
        "portfolio": _cell(row, "portfolio"),
    }
    return {k: v for k, v in raw.items() if v not in ("", None)}


def parse_case_csv(
    lines: Iterable[str],
    *,
    now: datetime,
    policy: str | None = None,
    behaviours: Sequence[str] | None = None,
) -> CsvBatch:
    """Read and validate every row; each bad row is reported with its line and field.

    With `behaviours` (the demo), the `behaviour` column must be one of them (empty means
    `never_pays`).
    """
    batch = CsvBatch()
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
    if "due_date" not in header and "days_overdue" not in header:
        missing.append("due_date")
    if missing:
        for column in missing:
            batch.errors.append(RowError(1, column, "column is missing from the header"))
        return batch
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            raw = case_from_row(row, now=now, policy=policy)
            case, _ = validate_case(raw, now=now)
            behaviour = _cell(row, "behaviour")
            if behaviours is not None:
                behaviour = behaviour or "never_pays"
                if behaviour not in behaviours:
                    raise InvalidInput("behaviour", f"must be one of {', '.join(behaviours)}")
            if case.loan_id in seen:
                raise InvalidInput("loan_id", f"{case.loan_id} repeats line {seen[case.loan_id]}")
        except InvalidInput as error:
            batch.errors.append(RowError(line, error.field, error.problem))
            continue
        seen[case.loan_id] = line
        batch.cases.append(CsvCase(line, case.loan_id, raw, behaviour))
    return batch


def read_case_csv(
    path: Path,
    *,
    now: datetime,
    policy: str | None = None,
    behaviours: Sequence[str] | None = None,
) -> CsvBatch:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return parse_case_csv(file, now=now, policy=policy, behaviours=behaviours)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


@dataclass
class ImportSummary:
    opened: list[str] = field(default_factory=list)
    already_open: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    invalid: list[RowError] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"opened {len(self.opened)}, already open {len(self.already_open)}, "
            f"closed {len(self.closed)}, invalid {len(self.invalid)}"
        )
        if self.failed:
            text += f", failed {len(self.failed)}"
        return text


async def import_cases(
    client: Client, cases: Sequence[CsvCase], *, now: datetime, concurrency: int = 16
) -> ImportSummary:
    """Open every case (idempotent: an open case is kept, a closed one is reported)."""
    summary = ImportSummary()
    gate = asyncio.Semaphore(concurrency)

    async def one(item: CsvCase) -> tuple[CsvCase, OpenResult | BaseException]:
        async with gate:
            try:
                return item, await open_case(client, item.raw, now=now)
            except Exception as error:
                return item, error

    for item, result in await asyncio.gather(*(one(item) for item in cases)):
        if isinstance(result, OpenResult):
            _out(result.describe())
            {
                "opened": summary.opened,
                "already_open": summary.already_open,
                "closed": summary.closed,
            }[result.outcome].append(item.loan_id)
        elif isinstance(result, InvalidInput):
            summary.invalid.append(RowError(item.line, result.field, result.problem))
            _err(f"line {item.line}: {result.field}: {result.problem}")
        else:
            summary.failed.append(item.loan_id)
            _err(f"{item.loan_id}: could not open: {type(result).__name__}: {result}")
    return summary


# --------------------------------------------------------------------------------------
# Updates and queries
# --------------------------------------------------------------------------------------
class CaseNotFound(Exception):
    """No case for the loan, or the case is closed and no longer takes updates."""


async def call_update(
    client: Client,
    loan_id: str,
    update: str,
    arg: dict[str, Any],
    *,
    timeout: float = ANSWER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Send one update and wait for its answer.

    The case de-duplicates by the message id inside `arg`: a resend answers as the first
    time did (payments say `duplicate`) and changes nothing.
    """
    handle = client.get_workflow_handle(workflow_id(loan_id))
    try:
        answer = await _within(
            handle.execute_update(
                update,
                arg,
                result_type=dict,
                rpc_timeout=timedelta(seconds=timeout),
            ),
            timeout,
        )
    except RPCError as error:
        raise _answer_error(error, loan_id, "no open case") from None
    return dict(answer)


async def query_status(
    client: Client, loan_id: str, *, timeout: float = ANSWER_TIMEOUT_SECONDS
) -> dict[str, Any]:
    handle = client.get_workflow_handle(workflow_id(loan_id))
    try:
        answer = await _within(
            handle.query("status", result_type=dict, rpc_timeout=timedelta(seconds=timeout)),
            timeout,
        )
    except RPCError as error:
        raise _answer_error(error, loan_id, "no case") from None
    return dict(answer)


async def _within(call: Awaitable[Any], seconds: float) -> Any:
    """`call`'s result, or `TimeoutError` after `seconds` (plus a little grace for the RPC
    deadline to answer first). Unlike `asyncio.wait_for` this does not wait for the
    abandoned call to acknowledge its cancellation, which an RPC in flight may not do."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=seconds + 2)
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise TimeoutError()
    return task.result()


def _answer_error(error: RPCError, loan_id: str, not_found: str) -> Exception:
    """A missing case, a timeout (our deadline cancels the call), or the RPC error itself."""
    if error.status == RPCStatusCode.NOT_FOUND:
        return CaseNotFound(f"{loan_id}: {not_found} ({error.message})")
    if error.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return TimeoutError(f"{loan_id}: no answer in time")
    return error


def rejection(error: WorkflowUpdateFailedError) -> tuple[str, str]:
    """(type, message) of a business rejection."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "Rejected", cause.message
    return type(cause).__name__, str(cause)


async def run_update(client: Client, loan_id: str, update: str, arg: dict[str, Any]) -> int:
    """Send an update, print its answer (exit 0) or its rejection (exit 2)."""
    try:
        answer = await call_update(client, loan_id, update, arg)
    except WorkflowUpdateFailedError as error:
        kind, message = rejection(error)
        _err(f"rejected ({kind}): {message}")
        return EXIT_BAD_INPUT
    except CaseNotFound as error:
        _err(str(error))
        return EXIT_ERROR
    _out(json.dumps(answer, ensure_ascii=False))
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def render_status(status: Mapping[str, Any]) -> str:
    """The `status` query answer as a readable page."""
    currency = str(status.get("currency") or "")

    def money(key: str) -> str:
        value = status.get(key)
        return format_money(value, currency) if isinstance(value, int) else "-"

    holds = status.get("holds") or []
    hold_text = (
        ", ".join(f"{h.get('kind')} {h.get('hold_id')} since {h.get('placed_at')}" for h in holds)
        if holds
        else "none"
    )
    next_action = status.get("next_action")
    next_text = (
        " ".join(f"{k}={v}" for k, v in next_action.items())
        if isinstance(next_action, Mapping)
        else "none"
    )
    overview = [
        ("loan", status.get("loan_id")),
        ("stage", status.get("stage")),
        ("status", status.get("status")),
        ("days past due", f"{status.get('days_past_due')} ({status.get('bucket')})"),
        ("outstanding", money("outstanding_minor")),
        ("paid", money("paid_minor")),
    ]
    if status.get("overpaid_minor"):
        overview.append(("overpaid", money("overpaid_minor")))
    overview += [
        ("policy", status.get("policy")),
        ("portfolio", status.get("portfolio", "-")),
        ("holds", hold_text),
    ]
    for key in ("promise", "plan"):
        if status.get(key):
            overview.append((key, json.dumps(status[key], ensure_ascii=False)))
    overview.append(("next action", next_text))
    label_width = max(len(label) for label, _ in overview)
    parts = ["\n".join(f"{label.ljust(label_width)}  {value}" for label, value in overview)]

    contacts = status.get("contacts") or []
    parts.append(f"\ncontacts ({len(contacts)})")
    if contacts:
        parts.append(
            table(
                ("attempt_id", "channel", "template", "at", "result"),
                [
                    (
                        c.get("attempt_id"),
                        c.get("channel"),
                        c.get("template"),
                        c.get("at"),
                        c.get("result"),
                    )
                    for c in contacts
                ],
            )
        )
    payments = status.get("payments") or []
    parts.append(f"\npayments ({len(payments)})")
    if payments:
        parts.append(
            table(
                ("payment_id", "amount", "at", "source"),
                [
                    (
                        p.get("payment_id"),
                        format_money(int(p.get("amount_minor") or 0), currency),
                        p.get("at"),
                        p.get("source") or "",
                    )
                    for p in payments
                ],
            )
        )
    rejected = status.get("rejected_payments") or []
    if rejected:
        parts.append(f"\nrejected payments ({len(rejected)})")
        parts.append(
            table(
                ("payment_id", "reason"), [(r.get("payment_id"), r.get("reason")) for r in rejected]
            )
        )
    legal = status.get("legal_events") or []
    if legal:
        parts.append(f"\nlegal events ({len(legal)})")
        parts.append(
            table(
                ("event_id", "event", "at", "note"),
                [
                    (e.get("event_id"), e.get("event"), e.get("at"), e.get("note") or "")
                    for e in legal
                ],
            )
        )
    return "\n".join(parts)


def list_query(
    *,
    stage: str | None = None,
    status: str | None = None,
    policy: str | None = None,
    portfolio: str | None = None,
) -> str:
    """A visibility query over the case search attributes; values are checked, not quoted."""
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    for key, value in (
        (sa.STAGE, stage),
        (sa.STATUS, status),
        (sa.POLICY, policy),
        (sa.PORTFOLIO, portfolio),
    ):
        if value is None:
            continue
        if not QUERY_VALUE.fullmatch(value):
            raise UsageError(f"{key.name}: {value!r} may only use letters, digits and . _ - space")
        clauses.append(f"{key.name} = '{value}'")
    return " AND ".join(clauses)


# --------------------------------------------------------------------------------------
# Demo: simulated borrowers and agents
# --------------------------------------------------------------------------------------
BEHAVIOURS = (
    "pays_after_reminder",
    "pays_in_parts",
    "partial_then_stops",
    "never_pays",
    "disputes",
)
DISPUTE_SECONDS = 20
DEMO_TIMEOUT_SECONDS = 10.0
STAGE_ORDER = ("preparation", "grace", "reminder", "phone", "field_visit", "legal")


@dataclass(frozen=True)
class DemoAction:
    update: str
    arg: dict[str, Any]
    message_id: str

    @property
    def key(self) -> str:
        return f"{self.update}:{self.message_id}"


def _reached(stage: str, target: str) -> bool:
    return stage in STAGE_ORDER and STAGE_ORDER.index(stage) >= STAGE_ORDER.index(target)


def _payment(loan_id: str, n: int, amount: int, currency: str) -> DemoAction:
    payment_id = f"demo-{loan_id}-pay-{n}"
    arg = {"payment_id": payment_id, "amount_minor": amount, "currency": currency, "source": "demo"}
    return DemoAction("record_payment", arg, payment_id)


def demo_actions(
    behaviour: str,
    status: Mapping[str, Any],
    *,
    now: datetime,
    done: frozenset[str] | set[str] = frozenset(),
) -> list[DemoAction]:
    """What the simulated borrower and agents send next, given a case's `status` answer.

    Pure and deterministic: every message id is derived from the loan id (or is the
    attempt id itself), so sending the same action again changes nothing. `done` holds
    the keys of actions already answered in this run; they are not proposed again.
    """
    stage = str(status.get("stage") or "")
    if stage == "closed" or status.get("status") in FINAL_STATUSES:
        return []
    loan_id = str(status["loan_id"])
    currency = str(status.get("currency") or "")
    outstanding = int(status.get("outstanding_minor") or 0)
    paid = int(status.get("paid_minor") or 0)
    total = outstanding + paid
    contacts: list[Mapping[str, Any]] = list(status.get("contacts") or [])
    paid_ids = {p.get("payment_id") for p in status.get("payments") or []}
    holds = {h.get("hold_id"): h for h in status.get("holds") or []}
    actions: list[DemoAction] = []

    # -- the borrower --------------------------------------------------------------
    first, second = f"demo-{loan_id}-pay-1", f"demo-{loan_id}-pay-2"
    if outstanding > 0:
        if behaviour == "pays_after_reminder":
            if first not in paid_ids and any(c.get("channel") == "sms" for c in contacts):
                actions.append(_payment(loan_id, 1, outstanding, currency))
        elif behaviour == "pays_in_parts":
            if first not in paid_ids and _reached(stage, "phone"):
                actions.append(_payment(loan_id, 1, max(1, min(outstanding, total // 3)), currency))
            elif first in paid_ids and second not in paid_ids and _reached(stage, "field_visit"):
                actions.append(_payment(loan_id, 2, outstanding, currency))
        elif behaviour == "partial_then_stops":
            if first not in paid_ids and _reached(stage, "phone"):
                actions.append(_payment(loan_id, 1, max(1, min(outstanding, total // 4)), currency))
        elif behaviour == "disputes":
            hold_id = f"demo-{loan_id}-dispute"
            hold = holds.get(hold_id)
            if hold is None and stage == "phone" and f"place_hold:{hold_id}" not in done:
                arg = {"hold_id": hold_id, "kind": "dispute", "reason": "borrower disputes amount"}
                actions.append(DemoAction("place_hold", arg, hold_id))
            elif hold is not None and _older_than(hold.get("placed_at"), now, DISPUTE_SECONDS):
                actions.append(DemoAction("release_hold", {"hold_id": hold_id}, hold_id))

    # -- the agents ----------------------------------------------------------------
    calls = [c for c in contacts if c.get("channel") == "call"]
    for position, call in enumerate(calls):
        if call.get("result") == "queued":
            outcome = "no_answer" if position % 2 == 0 else "reached"
            attempt_id = str(call["attempt_id"])
            arg = {"attempt_id": attempt_id, "outcome": outcome, "note": "demo agent"}
            actions.append(DemoAction("record_contact_outcome", arg, attempt_id))
    visits = [c for c in contacts if c.get("channel") == "field_visit"]
    for position, visit in enumerate(visits):
        if visit.get("result") == "booked":
            outcome = "not_home" if position % 2 == 0 else "met"
            visit_id = str(visit["attempt_id"])
            arg = {"visit_id": visit_id, "outcome": outcome, "note": "demo field team"}
            actions.append(DemoAction("record_visit_outcome", arg, visit_id))
    return [action for action in actions if action.key not in done]


def _older_than(placed_at: Any, now: datetime, seconds: int) -> bool:
    """True once `placed_at` (ISO text) lies `seconds` or more before `now`; unknown: True."""
    if not isinstance(placed_at, str):
        return True
    try:
        placed = datetime.fromisoformat(placed_at)
    except ValueError:
        return True
    if placed.tzinfo is None:
        placed = placed.replace(tzinfo=UTC)
    return (now - placed).total_seconds() >= seconds


def _brief(error: BaseException) -> str:
    """An error in one short line: its type and the start of its message (no case data)."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:100]}" if message else type(error).__name__


def _log(text: str) -> None:
    _out(f"{datetime.now().strftime('%H:%M:%S')} {text}")


async def demo_pass(
    client: Client,
    cases: Sequence[CsvCase],
    *,
    done: dict[str, set[str]],
    stages: dict[str, str],
    closed: set[str],
) -> None:
    """Query every open demo case once and send what its simulated people would send."""

    async def one(item: CsvCase) -> None:
        loan_id = item.loan_id
        try:
            status = await query_status(client, loan_id, timeout=DEMO_TIMEOUT_SECONDS)
        except Exception as error:
            _log(f"{loan_id} status not available ({_brief(error)}); retrying later")
            return
        stage = str(status.get("stage"))
        if stages.get(loan_id) != stage:
            _log(
                f"{loan_id} stage {stages.get(loan_id, '-')} -> {stage} "
                f"(DPD {status.get('days_past_due')}, {status.get('status')})"
            )
            stages[loan_id] = stage
        if stage == "closed" or status.get("status") in FINAL_STATUSES:
            closed.add(loan_id)
            return
        sent = done.setdefault(loan_id, set())
        for action in demo_actions(item.behaviour, status, now=datetime.now(UTC), done=sent):
            try:
                answer = await call_update(
                    client,
                    loan_id,
                    action.update,
                    action.arg,
                    timeout=DEMO_TIMEOUT_SECONDS,
                )
            except WorkflowUpdateFailedError as error:
                kind, message = rejection(error)
                _log(f"{loan_id} {action.update} {action.message_id} rejected ({kind}): {message}")
                sent.add(action.key)  # a rejection is final for this id
                continue
            except Exception as error:
                _log(f"{loan_id} {action.update} failed ({_brief(error)}); retrying later")
                continue
            sent.add(action.key)
            _log(f"{loan_id} {action.update} {action.message_id} -> {answer.get('status')}")

    await asyncio.gather(*(one(item) for item in cases if item.loan_id not in closed))


async def run_demo(
    client: Client, cases: Sequence[CsvCase], *, once: bool, interval: float
) -> None:
    done: dict[str, set[str]] = {}
    stages: dict[str, str] = {}
    closed: set[str] = set()
    while True:
        await demo_pass(client, cases, done=done, stages=stages, closed=closed)
        if once:
            return
        if len(closed) == len(cases):
            _log("every demo case is closed")
            return
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------
def case_from_flags(
    args: argparse.Namespace, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The start input from `open`'s flags, over the `--file` object if one was given."""
    raw: dict[str, Any] = dict(base or {})
    borrower: dict[str, Any] = dict(raw.get("borrower") or {})
    for flag, key in (
        ("borrower_id", "borrower_id"),
        ("name", "name"),
        ("phone", "phone"),
        ("email", "email"),
        ("address", "address"),
        ("timezone", "timezone"),
        ("locale", "locale"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            borrower[key] = value
    if borrower or "borrower" in raw:
        raw["borrower"] = borrower
    for flag, key in (
        ("loan_id", "loan_id"),
        ("currency", "currency"),
        ("amount_minor", "overdue_amount_minor"),
        ("due_date", "due_date"),
        ("policy", "policy"),
        ("portfolio", "portfolio"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            raw[key] = value
    return raw


def _load_case_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput("file", f"cannot read {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput("file", f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("file", f"{path} must hold one JSON object")
    return data


ClientFactory = Callable[[], Awaitable[Client]]


async def cmd_open(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    try:
        raw = case_from_flags(args, _load_case_file(args.file) if args.file else None)
        validate_case(raw, now=now)
    except InvalidInput as error:
        _err(f"invalid case: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    client = await connect()
    result = await open_case(client, raw, now=now)
    _out(result.describe())
    return EXIT_ERROR if result.outcome == "closed" else EXIT_OK


async def cmd_import(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    batch = read_case_csv(Path(args.file), now=now, policy=args.policy)
    for error in batch.errors:
        _err(error.describe())
    if batch.errors and not args.skip_invalid:
        _err(
            f"{len(batch.errors)} invalid row(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the valid rows)"
        )
        return EXIT_BAD_INPUT
    client = await connect()
    summary = await import_cases(client, batch.cases, now=now)
    summary.invalid = batch.errors + summary.invalid
    _out(summary.describe())
    return EXIT_ERROR if summary.failed else EXIT_OK


async def cmd_pay(args: argparse.Namespace, connect: ClientFactory) -> int:
    payment_id = args.payment_id
    if payment_id is None:
        payment_id = str(uuid.uuid4())
        _out(f"payment id {payment_id} (retry with --payment-id {payment_id})")
    arg: dict[str, Any] = {
        "payment_id": payment_id,
        "amount_minor": args.amount_minor,
        "currency": args.currency,
    }
    if args.source:
        arg["source"] = args.source
    if args.paid_at:
        arg["paid_at"] = args.paid_at
    return await run_update(await connect(), args.loan_id, "record_payment", arg)


def _with_note(arg: dict[str, Any], note: str | None) -> dict[str, Any]:
    return {**arg, "note": note} if note else arg


async def cmd_hold(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id, "kind": args.kind, "reason": args.reason}
    return await run_update(await connect(), args.loan_id, "place_hold", arg)


async def cmd_release(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id}
    return await run_update(await connect(), args.loan_id, "release_hold", arg)


async def cmd_outcome(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"attempt_id": args.attempt_id, "outcome": args.outcome}, args.note)
    return await run_update(await connect(), args.loan_id, "record_contact_outcome", arg)


async def cmd_visit(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"visit_id": args.visit_id, "outcome": args.outcome}, args.note)
    return await run_update(await connect(), args.loan_id, "record_visit_outcome", arg)


async def cmd_legal(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"event_id": args.event_id, "event": args.event}, args.note)
    return await run_update(await connect(), args.loan_id, "record_legal_event", arg)


async def cmd_status(args: argparse.Namespace, connect: ClientFactory) -> int:
    try:
        status = await query_status(await connect(), args.loan_id)
    except CaseNotFound as error:
        _err(str(error))
        return EXIT_ERROR
    _out(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return EXIT_OK


async def cmd_list(args: argparse.Namespace, connect: ClientFactory) -> int:
    query = list_query(
        stage=args.stage, status=args.status, policy=args.policy, portfolio=args.portfolio
    )
    client = await connect()
    rows: list[tuple[Any, ...]] = []
    async for execution in client.list_workflows(query, limit=args.limit):
        attributes = execution.typed_search_attributes
        outstanding = attributes.get(sa.OUTSTANDING_MINOR)
        currency = await execution.memo_value("currency", None, type_hint=str)
        if outstanding is None:
            amount = "-"
        elif currency:
            amount = format_money(outstanding, currency)
        else:
            amount = str(outstanding)
        rows.append(
            (
                attributes.get(sa.LOAN_ID) or execution.id.removeprefix("collection-"),
                attributes.get(sa.STAGE) or "-",
                attributes.get(sa.STATUS) or "-",
                attributes.get(sa.BUCKET) or "-",
                attributes.get(sa.DAYS_PAST_DUE),
                amount,
            )
        )
    if rows:
        _out(table(("loan_id", "stage", "status", "bucket", "dpd", "outstanding"), rows))
    _out(f"{len(rows)} case(s)")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    batch = read_case_csv(Path(args.csv), now=now, policy="demo", behaviours=BEHAVIOURS)
    for error in batch.errors:
        _err(error.describe())
    if batch.errors:
        _err("the demo CSV has invalid rows; nothing imported")
        return EXIT_BAD_INPUT
    client = await connect()
    summary = await import_cases(client, batch.cases, now=now)
    _out(summary.describe())
    await run_demo(client, batch.cases, once=args.once, interval=args.interval)
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
Command = Callable[[argparse.Namespace, ClientFactory], Awaitable[int]]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="Open and work overdue-loan collection cases (Temporal workflows).",
        epilog="Connects as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / envconfig profile say.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    p = command("open", cmd_open, "Open a collection case (returns the open one if it exists).")
    p.add_argument("--file", help="the case as a JSON object (CaseInput); flags override it")
    p.add_argument("--loan-id")
    p.add_argument("--borrower-id")
    p.add_argument("--name")
    p.add_argument("--phone", help="E.164, e.g. +8613800138000")
    p.add_argument("--email")
    p.add_argument("--address")
    p.add_argument("--timezone", help="IANA name; default: the policy's")
    p.add_argument("--locale", help="zh-CN (default) or en")
    p.add_argument("--currency", help="ISO 4217, e.g. CNY")
    p.add_argument("--amount-minor", type=int, help="overdue amount in minor units (fen/cents)")
    p.add_argument("--due-date", help="YYYY-MM-DD, not after today")
    p.add_argument("--policy", help="policy name (default: default)")
    p.add_argument("--portfolio")

    p = command("import", cmd_import, "Open a case for every row of a CSV file (idempotent).")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--policy", help="use this policy for every row (overrides the column)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows even if some are not"
    )

    p = command("pay", cmd_pay, "Record a payment (record_payment update).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--amount-minor", type=int, required=True)
    p.add_argument("--currency", required=True)
    p.add_argument("--payment-id", help="idempotency key; default: a new uuid (printed)")
    p.add_argument("--source", help="e.g. bank-transfer")
    p.add_argument("--paid-at", help="ISO 8601 timestamp; default: now")

    p = command("hold", cmd_hold, "Place a hold (dispute, cease_contact, ...): collection pauses.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    p.add_argument("--kind", required=True, choices=HOLD_KINDS)
    p.add_argument("--reason", required=True)

    p = command("release", cmd_release, "Release a hold.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)

    p = command("outcome", cmd_outcome, "Record a call's outcome (record_contact_outcome).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--attempt-id", required=True)
    p.add_argument("--outcome", required=True, choices=CONTACT_OUTCOMES)
    p.add_argument("--note")

    p = command("visit", cmd_visit, "Record a field visit's outcome (record_visit_outcome).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--visit-id", required=True)
    p.add_argument("--outcome", required=True, choices=VISIT_OUTCOMES)
    p.add_argument("--note")

    p = command("legal", cmd_legal, "Record a legal event (record_legal_event).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--event-id", required=True)
    p.add_argument("--event", required=True, choices=LEGAL_EVENTS)
    p.add_argument("--note")

    p = command("status", cmd_status, "Show a case (open or closed).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--json", action="store_true", help="print the raw status JSON")

    p = command("list", cmd_list, "List cases by their search attributes.")
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--policy")
    p.add_argument("--portfolio")
    p.add_argument("--limit", type=_positive_int, default=100, help="default 100")

    p = command("demo", cmd_demo, "Import the demo portfolio and simulate borrowers and agents.")
    p.add_argument("--csv", default=str(settings.PROJECT_DIR / "data" / "demo_portfolio.csv"))
    p.add_argument("--once", action="store_true", help="one pass instead of until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between passes")
    return parser


async def run(argv: Sequence[str] | None = None, connect: ClientFactory | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return await handler(args, connect or settings.connect_client)
    except UsageError as error:
        _err(str(error))
        return EXIT_BAD_INPUT
    except InvalidInput as error:
        _err(f"invalid input: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    except TimeoutError as error:
        _err(f"{error or 'no answer in time'}: is a worker running on the task queue?")
        return EXIT_ERROR
    except RPCError as error:
        _err(f"temporal error ({error.status.name if error.status else '?'}): {error.message}")
        return EXIT_ERROR
    except RuntimeError as error:
        _err(f"error: {error}")
        return EXIT_ERROR


def _leave_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C leaves at once: every message is idempotent and the state is on the server.

    Waiting for `asyncio.run` to cancel the tasks instead can hang for good when an RPC
    in flight keeps retrying a server that `make run` is stopping at the same moment.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGINT, _leave_on_interrupt)
    signal.signal(signal.SIGTERM, _leave_on_interrupt)
    try:
        code = asyncio.run(run(argv))
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        code = exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        code = EXIT_OK
    except Exception as error:
        _err(f"error: {type(error).__name__}: {error}")
        code = EXIT_ERROR
    # A process that used a Temporal client can crash while the interpreter shuts down.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
