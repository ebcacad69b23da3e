"""The debt by part: principal, interest, fees and penalty, and the three things that change
them — penalty accruing day by day, payments allocated in the policy's order, and adjustments
posted by the loan system.

Everything here is a pure function of the parts and the day: a case never wakes to accrue. It
posts the penalty of the days that have begun (`accrued`) whenever it acts, so what it shows,
sends and stores is the debt as of its latest decision, and the same figures follow on any
worker and in any replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from domain import fields
from domain.errors import InvalidInput

# In the order the contract lists them (and a report prints them).
COMPONENTS = ("principal", "interest", "fees", "penalty")
# The order in which a payment pays the parts off, unless the policy says otherwise:
# costs first, then interest, then principal (frappe/erpnext#36279 asks for the same).
DEFAULT_ALLOCATION_ORDER = ("fees", "penalty", "interest", "principal")
# The parts a start input may name: penalty is what this system accrues, never an opening part.
OPENING_COMPONENTS = ("principal", "interest", "fees")
BPS = 10_000
DAYS_PER_YEAR = 365
# A penalty rate of 1% a day is already far beyond anything a court protects.
MAX_RATE_BPS_PER_DAY = 100


@dataclass(frozen=True)
class Parts:
    principal_minor: int = 0
    interest_minor: int = 0
    fees_minor: int = 0
    penalty_minor: int = 0

    @property
    def total_minor(self) -> int:
        return self.principal_minor + self.interest_minor + self.fees_minor + self.penalty_minor

    def of(self, component: str) -> int:
        value: int = getattr(self, f"{component}_minor")
        return value

    def plus(self, component: str, amount_minor: int) -> Parts:
        return replace(self, **{f"{component}_minor": self.of(component) + amount_minor})

    def as_json(self) -> dict[str, int]:
        return {f"{component}_minor": self.of(component) for component in COMPONENTS}


@dataclass(frozen=True)
class LoanTerms:
    """What the loan contract says about charges after the due date."""

    # None: the policy's rate applies.
    penalty_rate_bps_per_day: int | None = None
    # Whether the contract expressly authorises fees and penalty (FDCPA §1692f(1) asks it).
    fees_authorized: bool = False


@dataclass(frozen=True)
class AccrualRules:
    """A policy's `[accrual]` table."""

    penalty_rate_bps_per_day: int = 0
    allocation_order: tuple[str, ...] = DEFAULT_ALLOCATION_ORDER
    # Penalty plus interest stay within this annual rate of the principal at opening, counted
    # over the days past due (None: no cap).
    annual_cap_bps: int | None = None
    # No penalty and no fee unless the loan's terms authorise them.
    fees_need_authorization: bool = False


@dataclass(frozen=True)
class DebtTerms:
    """How a case's debt grows and is paid off, fixed when the case is prepared."""

    rate_bps_per_day: int = 0
    annual_cap_bps: int | None = None
    # What the cap is a rate of: the principal the case opened with.
    cap_base_minor: int = 0
    allocation_order: tuple[str, ...] = DEFAULT_ALLOCATION_ORDER
    # Whether fees and penalty may be added to the debt at all (adjustments included).
    charges_allowed: bool = True

    def cap_minor(self, days_past_due: int) -> int | None:
        """The most penalty plus interest a debt may carry after `days_past_due` days."""
        if self.annual_cap_bps is None:
            return None
        return self.cap_base_minor * self.annual_cap_bps * days_past_due // (BPS * DAYS_PER_YEAR)


def debt_terms(rules: AccrualRules, terms: LoanTerms | None, opening: Parts) -> DebtTerms:
    """The case's terms: the contract's penalty rate, else the policy's; no penalty and no fee
    where the policy wants them authorised and the contract does not."""
    terms = terms or LoanTerms()
    rate = (
        terms.penalty_rate_bps_per_day
        if terms.penalty_rate_bps_per_day is not None
        else rules.penalty_rate_bps_per_day
    )
    allowed = terms.fees_authorized or not rules.fees_need_authorization
    return DebtTerms(
        rate_bps_per_day=rate if allowed else 0,
        annual_cap_bps=rules.annual_cap_bps,
        cap_base_minor=opening.principal_minor,
        allocation_order=rules.allocation_order,
        charges_allowed=allowed,
    )


@dataclass(frozen=True)
class Debt:
    """The parts as of the end of `accrued_through` (the borrower's calendar), and what the
    cap counts: the interest and penalty charged since the case opened (whatever was paid or
    waived since; the interest of the loan's term, in the opening balance, is not counted)."""

    parts: Parts
    due_date: date
    accrued_through: date
    terms: DebtTerms = DebtTerms()
    interest_charged_minor: int = 0
    penalty_charged_minor: int = 0

    @classmethod
    def opened(cls, parts: Parts, due: date) -> Debt:
        """A debt as the loan system hands it over: no penalty yet; the first day past due is
        the first whose penalty it posts."""
        return cls(parts, due_date=due, accrued_through=due)

    def accrued(self, today: date, *, accruing: bool) -> Debt:
        """The debt once the penalty of every day up to `today` that has begun is posted: for
        each such day, floor(principal at the day's start × rate / 10,000), within the cap.
        `accruing` is whether the case accrues now; it has since the last posting, because a
        case posts before anything that changes that."""
        if today <= self.accrued_through:
            return self
        if not accruing or self.terms.rate_bps_per_day == 0:
            return replace(self, accrued_through=today)
        daily = self.parts.principal_minor * self.terms.rate_bps_per_day // BPS
        charged = self.penalty_charged_minor
        day = self.accrued_through
        while day < today:
            day += timedelta(days=1)
            cap = self.terms.cap_minor((day - self.due_date).days)
            headroom = daily if cap is None else cap - self.interest_charged_minor - charged
            charged += max(0, min(daily, headroom))
        return replace(
            self,
            parts=self.parts.plus("penalty", charged - self.penalty_charged_minor),
            accrued_through=today,
            penalty_charged_minor=charged,
        )

    def adjusted(self, component: str, amount_minor: int) -> Debt:
        """The debt with `amount_minor` posted to one part (negative reduces it)."""
        if amount_minor > 0 and component in ("fees", "penalty") and not self.terms.charges_allowed:
            raise InvalidInput(
                "component", f"the loan's terms do not authorise adding {component} to this debt"
            )
        after = self.parts.of(component) + amount_minor
        if after < 0:
            raise InvalidInput("amount_minor", f"would take the {component} below zero")
        charge = amount_minor if component in ("interest", "penalty") and amount_minor > 0 else 0
        interest = self.interest_charged_minor + (charge if component == "interest" else 0)
        penalty = self.penalty_charged_minor + (charge if component == "penalty" else 0)
        cap = self.terms.cap_minor((self.accrued_through - self.due_date).days)
        if charge and cap is not None and interest + penalty > cap:
            raise InvalidInput(
                "amount_minor", "would take penalty plus interest above the policy's annual cap"
            )
        return replace(
            self,
            parts=self.parts.plus(component, amount_minor),
            interest_charged_minor=interest,
            penalty_charged_minor=penalty,
        )

    def paid(self, amount_minor: int) -> tuple[Debt, Allocation]:
        """The debt after a payment, and what the payment paid off."""
        allocation = allocate(self.parts, amount_minor, self.terms.allocation_order)
        return replace(self, parts=allocation.remaining), allocation


@dataclass(frozen=True)
class Allocation:
    """What one payment paid off, part by part, and what was left of it."""

    paid: Parts
    remaining: Parts
    overpaid_minor: int


def allocate(parts: Parts, amount_minor: int, order: Sequence[str]) -> Allocation:
    """Pay the parts off in `order`; what is left after all of them is an overpayment."""
    paid = Parts()
    remaining = parts
    left = amount_minor
    for component in order:
        taken = min(left, remaining.of(component))
        paid = paid.plus(component, taken)
        remaining = remaining.plus(component, -taken)
        left -= taken
    return Allocation(paid, remaining, left)


def parse_allocation_order(raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or sorted(raw) != sorted(COMPONENTS):
        raise InvalidInput(path, f"must list each of {', '.join(COMPONENTS)} once")
    return tuple(raw)


ACCRUAL_KEYS = frozenset(
    {"penalty_rate_bps_per_day", "allocation_order", "annual_cap_bps", "fees_need_authorization"}
)


def parse_accrual_rules(raw: Any) -> AccrualRules:
    """A policy's `[accrual]` table; every key optional (the defaults accrue nothing)."""
    data = fields.as_object(raw, "accrual")
    unknown = sorted(set(data) - ACCRUAL_KEYS)
    if unknown:
        raise InvalidInput(f"accrual.{unknown[0]}", "is not an accrual rule")
    rate = _non_negative(data, "penalty_rate_bps_per_day", "accrual.")
    if rate > MAX_RATE_BPS_PER_DAY:
        raise InvalidInput(
            "accrual.penalty_rate_bps_per_day", f"must be at most {MAX_RATE_BPS_PER_DAY}"
        )
    cap = _non_negative(data, "annual_cap_bps", "accrual.") if "annual_cap_bps" in data else None
    need_authorization = data.get("fees_need_authorization", False)
    if not isinstance(need_authorization, bool):
        raise InvalidInput("accrual.fees_need_authorization", "must be true or false")
    order = (
        parse_allocation_order(data["allocation_order"], "accrual.allocation_order")
        if "allocation_order" in data
        else DEFAULT_ALLOCATION_ORDER
    )
    return AccrualRules(rate, order, cap, need_authorization)


def parse_opening_parts(raw: Any, overdue_amount_minor: int) -> Parts:
    """The start input's `balance`: parts that sum to the overdue amount."""
    data = fields.as_object(raw, "balance")
    unknown = sorted(set(data) - {f"{c}_minor" for c in OPENING_COMPONENTS})
    if unknown:
        raise InvalidInput(f"balance.{unknown[0]}", "is not a part of an opening balance")
    amounts = {
        f"{component}_minor": _non_negative(data, f"{component}_minor", "balance.")
        for component in OPENING_COMPONENTS
    }
    parts = Parts(**amounts)
    if parts.total_minor != overdue_amount_minor:
        raise InvalidInput(
            "balance",
            f"its parts sum to {parts.total_minor}, not to overdue_amount_minor "
            f"({overdue_amount_minor})",
        )
    return parts


def parse_terms(raw: Any) -> LoanTerms:
    data = fields.as_object(raw, "terms")
    unknown = sorted(set(data) - {"penalty_rate_bps_per_day", "fees_authorized"})
    if unknown:
        raise InvalidInput(f"terms.{unknown[0]}", "is not a loan term this system reads")
    rate = None
    if data.get("penalty_rate_bps_per_day") is not None:
        rate = _non_negative(data, "penalty_rate_bps_per_day", "terms.")
        if rate > MAX_RATE_BPS_PER_DAY:
            raise InvalidInput(
                "terms.penalty_rate_bps_per_day", f"must be at most {MAX_RATE_BPS_PER_DAY}"
            )
    authorized = data.get("fees_authorized", False)
    if not isinstance(authorized, bool):
        raise InvalidInput("terms.fees_authorized", "must be true or false")
    return LoanTerms(rate, authorized)


@dataclass(frozen=True)
class Adjustment:
    """Interest posted, a fee waived, a correction: from the loan system, by its own id."""

    adjustment_id: str
    component: str
    amount_minor: int
    reason: str | None = None
    # Who sent it: the loan system, or the operator the command line acts for.
    source: str | None = fields.added_later()


def parse_adjustment(raw: Any) -> Adjustment:
    data = fields.as_object(raw, "adjustment")
    adjustment_id = fields.message_id(data, "adjustment_id")
    component = fields.one_of(data, "component", COMPONENTS)
    amount = data.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidInput("amount_minor", "must be a non-zero whole number of minor units")
    if abs(amount) > fields.AMOUNT_MAX:
        raise InvalidInput("amount_minor", f"must be at most {fields.AMOUNT_MAX} either way")
    reason = fields.bounded_text(data, "reason", required=False)
    return Adjustment(adjustment_id, component, amount, reason, fields.source(data))


def _non_negative(data: Mapping[str, Any], key: str, prefix: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        what = "basis points" if key.endswith("_bps") or "_bps_" in key else "minor units"
        raise InvalidInput(f"{prefix}{key}", f"must be a whole number of {what}, 0 or more")
    if value > fields.AMOUNT_MAX:
        raise InvalidInput(f"{prefix}{key}", f"must be at most {fields.AMOUNT_MAX}")
    return value
