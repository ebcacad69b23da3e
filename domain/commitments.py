"""What a borrower commits to: a promise to pay, an installment plan, a settlement.

Each is parsed from a message (naming the field at fault), checked against the policy and the
case, and then kept by the case as a timed commitment that enforces itself: `decide` wakes the
case when one falls due, and the payments the case receives keep it, or not.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from domain import fields
from domain.errors import InvalidInput
from domain.money import format_money


@dataclass(frozen=True)
class CommitmentRules:
    """The policy's limits on commitments (see policies/default.toml)."""

    promise_max_days: int = 14
    promise_grace_days: int = 1
    max_broken_promises: int = 3
    plan_max_installments: int = 12
    plan_first_within_days: int = 30
    plan_grace_days: int = 3
    settlement_max_days: int = 30
    # An agent's call task is due within this many days; one with no outcome by then (or a
    # `promised` outcome with no promise by then) expires and is re-queued this many times.
    call_sla_days: int = 1
    call_requeue_limit: int = 1
    # A `not_home` visit is re-booked this many times; after `paid_on_site` the payment is
    # expected within this many days.
    visit_rebook_limit: int = 2
    paid_on_site_days: int = 1


@dataclass(frozen=True)
class PromiseRequest:
    promise_id: str
    amount_minor: int
    due_date: date
    # Who sent it (the agent the desk acts for); plans and settlements may name one too.
    source: str | None = fields.added_later()


@dataclass(frozen=True)
class InstallmentRequest:
    due_date: date
    amount_minor: int


@dataclass(frozen=True)
class PlanRequest:
    plan_id: str
    installments: tuple[InstallmentRequest, ...]
    source: str | None = fields.added_later()


@dataclass(frozen=True)
class SettlementRequest:
    settlement_id: str
    amount_minor: int
    due_date: date
    source: str | None = fields.added_later()


@dataclass
class Promise:
    promise_id: str
    amount_minor: int
    due_date: date
    # What the case had been paid when the promise was made: the promise counts what comes after.
    paid_before_minor: int
    state: str = "pending"  # pending, kept, broken
    paid_toward_minor: int = 0
    shortfall_minor: int = 0
    # Who took it: its kept or broken record names them too (a state carried over from
    # before commitments kept it has none).
    source: str | None = None


@dataclass
class Installment:
    due_date: date
    amount_minor: int
    paid_minor: int = 0
    state: str = "due"  # due, paid, missed


@dataclass
class Plan:
    plan_id: str
    installments: list[Installment]
    # The stage the case was in when the plan began: a broken plan resumes collection there.
    began_in_stage: str
    state: str = "active"  # active, completed, broken
    source: str | None = None

    def next_due(self) -> Installment | None:
        return next((i for i in self.installments if i.state == "due"), None)


@dataclass
class Settlement:
    settlement_id: str
    amount_minor: int
    due_date: date
    paid_before_minor: int
    state: str = "pending"  # pending, paid, lapsed
    forgiven_minor: int = 0
    source: str | None = None


def parse_promise(raw: Any) -> PromiseRequest:
    data = fields.as_object(raw, "promise")
    return PromiseRequest(
        promise_id=fields.message_id(data, "promise_id"),
        amount_minor=fields.positive_int(data, "amount_minor"),
        due_date=fields.iso_date(data, "due_date"),
        source=fields.source(data),
    )


def parse_plan(raw: Any) -> PlanRequest:
    data = fields.as_object(raw, "plan")
    plan_id = fields.message_id(data, "plan_id")
    entries = data.get("installments")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("installments", "must be a non-empty list")
    if len(entries) > MAX_INSTALLMENTS_EVER:
        raise InvalidInput("installments", f"must be at most {MAX_INSTALLMENTS_EVER}")
    installments = []
    for position, entry in enumerate(entries):
        prefix = f"installments[{position}]."
        item = fields.as_object(entry, f"installments[{position}]")
        installments.append(
            InstallmentRequest(
                due_date=fields.iso_date(item, "due_date", prefix=prefix),
                amount_minor=fields.positive_int(item, "amount_minor", prefix=prefix),
            )
        )
    return PlanRequest(
        plan_id=plan_id, installments=tuple(installments), source=fields.source(data)
    )


def parse_settlement(raw: Any) -> SettlementRequest:
    data = fields.as_object(raw, "settlement")
    return SettlementRequest(
        settlement_id=fields.message_id(data, "settlement_id"),
        amount_minor=fields.positive_int(data, "amount_minor"),
        due_date=fields.iso_date(data, "due_date"),
        source=fields.source(data),
    )


@dataclass(frozen=True)
class Owed:
    """What the case is still owed as a commitment is weighed: the outstanding amount in the
    case's currency. A refusal states it as people read money (`CNY 5,000.00`), not in minor
    units."""

    amount_minor: int
    currency: str

    def __str__(self) -> str:
        return format_money(self.amount_minor, self.currency)


# No policy may allow more (a personalised hardship plan for Chinese credit cards runs up to 60
# months); a message longer than this is refused before any policy is consulted.
MAX_INSTALLMENTS_EVER = 60


def check_promise(
    request: PromiseRequest,
    rules: CommitmentRules,
    *,
    today: date,
    owed: Owed,
    broken_promises: int,
) -> None:
    if broken_promises >= rules.max_broken_promises:
        raise InvalidInput(
            "promise_id", f"{broken_promises} promises were broken: no more are taken"
        )
    if request.amount_minor > owed.amount_minor:
        raise InvalidInput("amount_minor", f"must not exceed the outstanding amount ({owed})")
    _check_due(request.due_date, "due_date", today, rules.promise_max_days, "at most {} days ahead")


def check_plan(request: PlanRequest, rules: CommitmentRules, *, today: date, owed: Owed) -> None:
    count = len(request.installments)
    if count > rules.plan_max_installments:
        raise InvalidInput(
            "installments", f"must be at most {rules.plan_max_installments} installments"
        )
    total = sum(i.amount_minor for i in request.installments)
    if total != owed.amount_minor:
        raise InvalidInput(
            "installments",
            f"must sum to the outstanding amount {owed}, not {format_money(total, owed.currency)}",
        )
    for position, (earlier, later) in enumerate(pairwise(request.installments), start=1):
        if later.due_date <= earlier.due_date:
            raise InvalidInput(
                f"installments[{position}].due_date", "due dates must be strictly increasing"
            )
    first_due = request.installments[0].due_date
    _check_due(first_due, "installments[0].due_date", today, rules.plan_first_within_days)


def check_settlement(
    request: SettlementRequest, rules: CommitmentRules, *, today: date, owed: Owed
) -> None:
    if request.amount_minor >= owed.amount_minor:
        raise InvalidInput("amount_minor", f"must be below the outstanding amount ({owed})")
    _check_due(request.due_date, "due_date", today, rules.settlement_max_days)


def due_range(today: date, max_days: int) -> tuple[date, date]:
    """The first and last due dates a commitment allowed `max_days` ahead may have."""
    return today, today + timedelta(days=max_days)


def _check_due(
    day: date, field: str, today: date, max_days: int, limit: str = "within {} days"
) -> None:
    """A commitment's due date: not in the past, and no later than the policy allows (`limit`
    says how far ahead, with `{}` for `max_days`)."""
    earliest, latest = due_range(today, max_days)
    if day < earliest:
        raise InvalidInput(field, f"{day} is in the past")
    if day > latest:
        raise InvalidInput(field, f"must be {limit.format(max_days)} ({latest})")


def allocate(installments: list[Installment], amount_minor: int) -> int:
    """Apply a payment to the plan's installments in order (a prepayment reduces the next
    ones); returns what is left over once every installment is paid."""
    left = amount_minor
    for installment in installments:
        if left == 0:
            break
        if installment.state == "paid":
            continue
        take = min(left, installment.amount_minor - installment.paid_minor)
        installment.paid_minor += take
        left -= take
        if installment.paid_minor == installment.amount_minor:
            installment.state = "paid"
    return left
