"""What the agent's case page reads and works out besides the case's own `status`: the case's
row and borrower in the case database, the case's today, the call script, amounts typed in
major units.

Pure where it can be (the page's routes in `web/pages/case.py` do the talking); nothing here
logs, because most of it is personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import col, select

from activities.store import Store
from domain.case_details import human_time
from domain.commitments import Owed
from domain.debt import Parts
from domain.money import MINOR_UNIT_DIGITS, format_money
from domain.notices import NoticeFacts
from domain.plan_calculator import (
    MONTHLY,
    Interval,
    PlanLimits,
    PromiseLimits,
    plan_limits,
    promise_limits,
)
from migrations.tables import BorrowerRow, CaseRow, WorkItemRow
from templates import render_notice
from web.case_reading import assignee_at, assignment_rows, days_past_due, policy_named

# The call script when the case has queued no call yet (the ladder's first call's template).
FIRST_CALL = "first_call"
INTERVALS: dict[str, Interval] = {
    "monthly": MONTHLY,
    "14": Interval(days=14),
    "7": Interval(days=7),
}
PARTS = ("principal", "interest", "fees", "penalty")


@dataclass(frozen=True)
class CaseFacts:
    """The case as the desk knows it from the database (the case's status comes from Temporal)."""

    case: CaseRow
    borrower: BorrowerRow | None
    assignee: str | None = None  # the responsible collector of the phone teams


def open_case(store: Store, loan_id: str) -> CaseFacts | None:
    """The loan's open case and its borrower's row; None: no case, or only closed ones."""
    with store.reading() as session:
        case = session.exec(
            select(CaseRow)
            .where(col(CaseRow.loan_id) == loan_id, col(CaseRow.closed_at).is_(None))
            .order_by(col(CaseRow.opened_at).desc())
        ).first()
        if case is None:
            return None
        borrower = session.get(BorrowerRow, case.borrower_id)
        assignee = assignee_at(assignment_rows(session, [loan_id]), loan_id, field=False)
    return CaseFacts(case, borrower, assignee)


def case_today(case: CaseRow, now: datetime) -> date:
    """The case's today at `now`, as it checks commitments: the due date plus its days past
    due by its own clock (a fast clock's days under the `demo` policy)."""
    return date.fromisoformat(case.due_date) + timedelta(days=days_past_due(case, now))


def owed(status: Mapping[str, Any]) -> Owed:
    return Owed(int(status["outstanding_minor"]), str(status["currency"]))


@dataclass(frozen=True)
class Limits:
    plan: PlanLimits
    promise: PromiseLimits


def limits(case: CaseRow, status: Mapping[str, Any], today: date) -> Limits:
    rules = policy_named(case.policy).commitments
    return Limits(
        plan_limits(rules, today=today), promise_limits(rules, today=today, owed=owed(status))
    )


def balance_parts(status: Mapping[str, Any]) -> Parts | None:
    """The debt by part from the status's `balance`, if it has one."""
    balance = status.get("balance")
    if not isinstance(balance, Mapping):
        return None
    return Parts(**{f"{part}_minor": int(balance.get(f"{part}_minor", 0)) for part in PARTS})


def script_template(status: Mapping[str, Any]) -> str:
    """The template of the case's current call step: its latest call's, or the first call's."""
    calls = [c for c in status.get("contacts", []) if c.get("channel") == "call"]
    return str(calls[-1].get("template") or FIRST_CALL) if calls else FIRST_CALL


def script_facts(
    status: Mapping[str, Any], borrower: BorrowerRow | None, default_locale: str
) -> NoticeFacts:
    """The facts the call's script states, as of the case's answer to `status`."""
    return NoticeFacts(
        loan_id=str(status["loan_id"]),
        borrower_name=borrower.name if borrower else None,
        locale=borrower.locale if borrower else default_locale,
        days_past_due=int(status["days_past_due"]),
        outstanding_minor=int(status["outstanding_minor"]),
        currency=str(status["currency"]),
        parts=balance_parts(status),
    )


def call_script(status: Mapping[str, Any], borrower: BorrowerRow | None, locale: str) -> str:
    """The script rendered as the case renders a call's notice (the `call` channel)."""
    return render_notice(script_template(status), "call", script_facts(status, borrower, locale))


class FormProblem(Exception):
    """A form field the agent must correct; nothing is sent."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def minor_units(text: str, currency: str, field: str = "amount") -> int:
    """An amount typed in major units ("1500.00", "1,500") in the currency's minor units."""
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise FormProblem(field, f"must be an amount in {currency}, like 1500.00") from None
    scaled = amount.scaleb(digits)
    if not amount.is_finite() or scaled != scaled.to_integral_value():
        raise FormProblem(field, f"must have at most {digits} digits after the point")
    if scaled < 1:
        raise FormProblem(field, "must be more than zero")
    return int(scaled)


def form_date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FormProblem(field, "must be a date (YYYY-MM-DD)") from None


def form_time(text: str, field: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise FormProblem(field, "must be a time of day (HH:MM)") from None


def form_count(text: str, field: str = "count") -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise FormProblem(field, "must be a whole number") from None


def form_interval(text: str) -> Interval:
    if text not in INTERVALS:
        raise FormProblem("interval", f"must be one of {', '.join(INTERVALS)}")
    return INTERVALS[text]


def money(amount_minor: int | None, currency: str) -> str:
    return "" if amount_minor is None else format_money(int(amount_minor), currency)


def contact_time(at: str, timezone: str) -> str:
    """A contact's moment from the case's `status` (ISO) as people read it, on the borrower's
    clock, as the case's own details write it; a value that is no moment is shown as it is."""
    try:
        return human_time(datetime.fromisoformat(at), timezone)
    except (TypeError, ValueError):
        return str(at)


def open_call_task(store: Store, case_id: str) -> str | None:
    """The case's open call task's id (the latest, should there be two), if any."""
    with store.reading() as session:
        found = session.exec(
            select(WorkItemRow.work_item_id)
            .where(
                col(WorkItemRow.case_id) == case_id,
                col(WorkItemRow.status) == "open",
                col(WorkItemRow.kind) == "call",
            )
            .order_by(col(WorkItemRow.created_at).desc())
        ).first()
    return found
