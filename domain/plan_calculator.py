"""The installment-plan calculator of the agent's page, and the limits the page shows.

From the outstanding amount, a number of installments, the first due date and an interval
(every N months or every N days) it builds a schedule:

- each installment is the amount divided by their number, rounded down to the minor unit, and
  the **first** installment also carries the remainder, so that they sum to the amount exactly
  (CNY 1,000.00 in 3: 333.34, 333.33, 333.33);
- monthly due dates fall on the first date's day of the month, or on the month's last day in
  a shorter month (from 31 January: 28 February, 31 March);
- the schedule is then checked with the case's own plan rule (`domain.commitments.check_plan`)
  against the case's policy, so the page shows exactly what the case would accept, or its
  refusal naming the field at fault.

The calculator cannot build a plan of fewer than one installment, of more installments than a
plan message may ever hold (`MAX_INSTALLMENTS_EVER`), or of more installments than minor units
owed (an installment is at least one minor unit).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.commitments import (
    MAX_INSTALLMENTS_EVER,
    CommitmentRules,
    InstallmentRequest,
    Owed,
    PlanRequest,
    check_plan,
    due_range,
)
from domain.errors import InvalidInput

# The calculator's own inputs, as a refusal names the one at fault.
COUNT = "count"
FIRST_DUE = "first_due"
INTERVAL = "interval"
AMOUNT = "amount"


@dataclass(frozen=True)
class Interval:
    """Between two due dates: `months` calendar months, or else `days` days."""

    months: int = 0
    days: int = 0

    def nth_after(self, first: date, n: int) -> date:
        """The due date `n` intervals after `first`."""
        if self.months:
            month_index = first.month - 1 + n * self.months
            year, month = first.year + month_index // 12, month_index % 12 + 1
            return date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
        return first + timedelta(days=n * self.days)


MONTHLY = Interval(months=1)


@dataclass(frozen=True)
class PlanRefusal:
    """Why the case would refuse the plan: the plan message's field and the case's words,
    and which of the calculator's inputs to change (`count`, `first_due`, `interval`,
    `amount`)."""

    field: str
    problem: str
    calculator_input: str


@dataclass(frozen=True)
class PlanQuote:
    """A calculated schedule and the case's verdict on it (None: the case would accept it)."""

    installments: tuple[InstallmentRequest, ...]
    refusal: PlanRefusal | None

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    def message(self, plan_id: str) -> dict[str, Any]:
        """The plan as the case's plan update takes it (`domain.commitments.parse_plan`)."""
        return {
            "plan_id": plan_id,
            "installments": [
                {"due_date": i.due_date.isoformat(), "amount_minor": i.amount_minor}
                for i in self.installments
            ],
        }


@dataclass(frozen=True)
class DueLimits:
    """The due dates a commitment may have, both included."""

    earliest: date
    latest: date


@dataclass(frozen=True)
class PlanLimits:
    max_installments: int
    first_due: DueLimits


@dataclass(frozen=True)
class PromiseLimits:
    max_amount_minor: int
    due: DueLimits


def schedule(
    amount_minor: int, count: int, first_due: date, interval: Interval
) -> tuple[InstallmentRequest, ...]:
    """`count` installments summing to `amount_minor`, the remainder on the first."""
    share, remainder = divmod(amount_minor, count)
    return tuple(
        InstallmentRequest(interval.nth_after(first_due, n), share + (remainder if n == 0 else 0))
        for n in range(count)
    )


def quote_plan(
    owed: Owed,
    count: int,
    first_due: date,
    interval: Interval,
    *,
    rules: CommitmentRules,
    today: date,
) -> PlanQuote:
    """The schedule for `count` installments of what is `owed`, and whether the case would
    take it under `rules` on `today` (the case's today, as it checks commitments)."""
    refused = _unbuildable(owed, count, interval)
    if refused is not None:
        return PlanQuote((), refused)
    installments = schedule(owed.amount_minor, count, first_due, interval)
    try:
        check_plan(PlanRequest("quote", installments), rules, today=today, owed=owed)
    except InvalidInput as error:
        return PlanQuote(installments, PlanRefusal(error.field, error.problem, _input_of(error)))
    return PlanQuote(installments, None)


def plan_limits(rules: CommitmentRules, *, today: date) -> PlanLimits:
    """What the page shows beside the calculator: the most installments, and the range of the
    first due date."""
    earliest, latest = due_range(today, rules.plan_first_within_days)
    return PlanLimits(rules.plan_max_installments, DueLimits(earliest, latest))


def promise_limits(rules: CommitmentRules, *, today: date, owed: Owed) -> PromiseLimits:
    """A promise's allowed range: at most the outstanding amount, due within the policy's
    days (the case's `check_promise` also refuses one after too many broken promises)."""
    earliest, latest = due_range(today, rules.promise_max_days)
    return PromiseLimits(owed.amount_minor, DueLimits(earliest, latest))


def _unbuildable(owed: Owed, count: int, interval: Interval) -> PlanRefusal | None:
    """Why no schedule can be built from these inputs at all, if so."""
    if owed.amount_minor < 1:
        return PlanRefusal("installments", "nothing is outstanding", AMOUNT)
    if count < 1:
        return PlanRefusal("installments", "must be at least 1 installment", COUNT)
    if count > MAX_INSTALLMENTS_EVER:
        return PlanRefusal("installments", f"must be at most {MAX_INSTALLMENTS_EVER}", COUNT)
    if count > owed.amount_minor:
        return PlanRefusal(
            "installments", f"must be at most {owed.amount_minor} (one minor unit each)", COUNT
        )
    if interval.months < 0 or interval.days < 0 or not (interval.months or interval.days):
        return PlanRefusal("installments", "the interval must be at least a day", INTERVAL)
    return None


def _input_of(error: InvalidInput) -> str:
    """The calculator's input behind a field `check_plan` names: the first due date's, the
    order of the due dates (the interval's), or else the number of installments."""
    if error.field == "installments[0].due_date":
        return FIRST_DUE
    if error.field.endswith(".due_date"):
        return INTERVAL
    return COUNT
