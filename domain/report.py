"""The portfolio report's figures, computed from plain rows of the case database (no I/O).

Every figure is "as of" one moment: now (everything recorded so far), or the end of a given
day in each borrower's calendar (a reproducible report: what was recorded after that day is
left out, and days past due count to that day). Money is summed per currency, never across.

Days past due (DPD) is counted as the case counts it: calendar days from the due date in the
borrower's timezone, stopping when the case closed. A policy with a fast clock (`demo`) counts
faster than the calendar; its own count is the DPD of the case's last snapshot, so the larger of
the two is taken, as the case's `status` query does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

from domain.audit import AuditKind
from domain.case_status import CASE_STAGES
from domain.clock import BUCKET_STARTS, BUCKETS, bucket, calendar_days_past_due
from domain.debt import Parts
from domain.report_parts import PartsSummary, parts_by_currency

# The stage of a case that was open on the report's day but whose recorded stage is from a
# later snapshot: the case database keeps a case's latest stage only.
UNKNOWN_STAGE = "unknown"
REPORT_STAGES = (*CASE_STAGES, UNKNOWN_STAGE)


# The audit-log kinds that make, keep or break a promise or a plan.
COMMITMENT_KINDS = (
    AuditKind.PROMISE_MADE,
    AuditKind.PROMISE_KEPT,
    AuditKind.PROMISE_BROKEN,
    AuditKind.PLAN_AGREED,
    AuditKind.PLAN_COMPLETED,
    AuditKind.PLAN_BROKEN,
)
# The audit-log kinds that change the debt besides payments; their detail's `amount_minor`.
CHARGE_KINDS = (AuditKind.PENALTY_ACCRUED, AuditKind.BALANCE_ADJUSTED)


# -- input: plain rows ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReportCase:
    """What the report needs of a row of `cases` (no personal data)."""

    case_id: str
    currency: str
    overdue_amount_minor: int
    due_date: date
    timezone: str
    stage: str
    # The case's own DPD at its last snapshot (`updated_at`).
    days_past_due: int
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    # The case's latest status and balance (its last snapshot); `balance` by part, None where
    # none was recorded (`domain.report_parts`).
    status: str = ""
    outstanding_minor: int = 0
    balance: Parts | None = None


@dataclass(frozen=True)
class ReportPayment:
    """An applied payment: `applied_minor` is what reduced the debt (overpayment excluded)."""

    case_id: str
    applied_minor: int
    received_at: datetime
    # What it paid off by part; None where none was recorded (`domain.report_parts`).
    allocation: Parts | None = None


@dataclass(frozen=True)
class ReportEvent:
    """An audit-log line about a promise or a plan (`ref_id` is the promise's or plan's id), or
    a change of the debt other than a payment (`amount_minor`: penalty posted, an adjustment)."""

    case_id: str
    kind: str
    ref_id: str
    at: datetime
    amount_minor: int = 0


@dataclass(frozen=True)
class AsOf:
    """When the report is for. Without `day`: `now`, and everything recorded counts. With
    `day`: the end of that day in each borrower's calendar, and later records are left out."""

    now: datetime
    day: date | None = None

    def includes(self, instant: datetime, timezone: str) -> bool:
        """Whether something recorded at `instant` had happened by the report's moment."""
        if self.day is None:
            return True
        next_midnight = datetime.combine(
            self.day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone)
        )
        return instant < next_midnight

    def moment(self, timezone: str) -> datetime:
        """An instant on the report's day in the borrower's calendar (DPD counts dates)."""
        if self.day is None:
            return self.now
        return datetime.combine(self.day, time(0), tzinfo=ZoneInfo(timezone))

    def label(self) -> str:
        return self.day.isoformat() if self.day is not None else self.now.isoformat()


# -- output: the figures -------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    """A rate kept as its two counts; no rate (None) when nothing was counted."""

    numerator: int
    denominator: int

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None


@dataclass(frozen=True)
class CasePosition:
    """Where one case stood at the report's moment."""

    stage: str
    closed: bool
    # DPD when the case was opened, and the highest DPD it reached while open.
    dpd_at_opening: int
    dpd_reached: int
    outstanding_minor: int
    collected_minor: int

    @property
    def bucket(self) -> str:
        return bucket(self.dpd_reached)

    def was_in(self, bucket_name: str) -> bool:
        """Whether the case was in the bucket at some moment while open."""
        first, last = bucket_days(bucket_name)
        entered_open = last is None or self.dpd_at_opening <= last
        return entered_open and self.dpd_reached >= first


@dataclass(frozen=True)
class PortfolioCell:
    stage: str
    bucket: str
    currency: str
    cases: int
    overdue_minor: int
    # For a closed case, what was left unpaid: written off, or forgiven in a settlement.
    outstanding_minor: int


@dataclass(frozen=True)
class CurrencySummary:
    currency: str
    cases: int
    overdue_minor: int
    outstanding_minor: int
    collected_minor: int
    # Collected, charged off at write-off and recovered after it, by part.
    parts: PartsSummary = field(default_factory=PartsSummary)

    @property
    def recovery(self) -> Ratio:
        """Collected so far over the amount overdue when the cases were opened."""
        return Ratio(self.collected_minor, self.overdue_minor)


@dataclass(frozen=True)
class RollRate:
    """Of the cases in `from_bucket` while open, the share whose DPD reached `to_bucket`."""

    from_bucket: str
    to_bucket: str
    ratio: Ratio


@dataclass(frozen=True)
class CommitmentSummary:
    """Promises (kept or broken) or plans (completed or broken) made by the report's moment."""

    made: int
    succeeded: int
    broken: int

    @property
    def pending(self) -> int:
        return self.made - self.succeeded - self.broken

    @property
    def ratio(self) -> Ratio:
        return Ratio(self.succeeded, self.succeeded + self.broken)


@dataclass(frozen=True)
class PortfolioReport:
    as_of: AsOf
    cases: int
    cells: tuple[PortfolioCell, ...]
    currencies: tuple[CurrencySummary, ...]
    roll_rates: tuple[RollRate, ...]
    promises: CommitmentSummary
    plans: CommitmentSummary

    def cases_by(self, what: str) -> dict[str, int]:
        """Case counts by `stage` or `bucket`, across currencies (counts add up; money not)."""
        counts: dict[str, int] = {}
        for cell in self.cells:
            key = cell.stage if what == "stage" else cell.bucket
            counts[key] = counts.get(key, 0) + cell.cases
        return counts


# -- the rules -----------------------------------------------------------------------------
def bucket_days(bucket_name: str) -> tuple[int, int | None]:
    """A bucket's first and last day past due (None: the last bucket has no end)."""
    index = BUCKETS.index(bucket_name)
    first = BUCKET_STARTS[index][1]
    last = BUCKET_STARTS[index + 1][1] - 1 if index + 1 < len(BUCKET_STARTS) else None
    return first, last


def case_position(
    case: ReportCase, collected_minor: int, as_of: AsOf, charged_minor: int = 0
) -> CasePosition:
    """A case's stage, DPD and balance at the report's moment; `collected_minor` is what was
    applied to it by then, `charged_minor` what penalty and adjustments added (or took off)."""
    closed = case.closed_at is not None and as_of.includes(case.closed_at, case.timezone)
    snapshot_counts = as_of.includes(case.updated_at, case.timezone)
    end = case.closed_at if closed and case.closed_at is not None else as_of.moment(case.timezone)
    at_opening = calendar_days_past_due(case.due_date, case.opened_at, case.timezone)
    reached = max(
        at_opening,
        calendar_days_past_due(case.due_date, end, case.timezone),
        case.days_past_due if snapshot_counts else 0,
    )
    if closed:
        stage = "closed"
    elif snapshot_counts and case.stage != "closed":
        stage = case.stage
    else:
        stage = UNKNOWN_STAGE
    return CasePosition(
        stage=stage,
        closed=closed,
        dpd_at_opening=at_opening,
        dpd_reached=reached,
        outstanding_minor=max(0, case.overdue_amount_minor + charged_minor - collected_minor),
        collected_minor=collected_minor,
    )


def build_report(
    cases: Iterable[ReportCase],
    payments: Iterable[ReportPayment],
    events: Iterable[ReportEvent],
    as_of: AsOf,
) -> PortfolioReport:
    """The whole report over the cases opened by the report's moment."""
    payments = list(payments)  # read twice: the totals, then the parts
    included = {
        case.case_id: case for case in cases if as_of.includes(case.opened_at, case.timezone)
    }
    collected: dict[str, int] = defaultdict(int)
    for payment in payments:
        case = included.get(payment.case_id)
        if case is not None and as_of.includes(payment.received_at, case.timezone):
            collected[payment.case_id] += payment.applied_minor
    # What the debt grew or shrank by besides payments, by the report's moment.
    charged: dict[str, int] = defaultdict(int)
    for event in events:
        case = included.get(event.case_id)
        if (
            case is not None
            and event.kind in CHARGE_KINDS
            and as_of.includes(event.at, case.timezone)
        ):
            charged[event.case_id] += event.amount_minor
    positions = [
        (case, case_position(case, collected[case.case_id], as_of, charged[case.case_id]))
        for case in included.values()
    ]
    promises, plans = _commitments(included, events, as_of)
    return PortfolioReport(
        as_of=as_of,
        cases=len(positions),
        cells=_cells(positions),
        currencies=_currencies(positions, parts_by_currency(included, payments, as_of)),
        roll_rates=_roll_rates([position for _, position in positions]),
        promises=promises,
        plans=plans,
    )


def _cells(positions: Sequence[tuple[ReportCase, CasePosition]]) -> tuple[PortfolioCell, ...]:
    sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for case, position in positions:
        cell = sums[(position.stage, position.bucket, case.currency)]
        cell[0] += 1
        cell[1] += case.overdue_amount_minor
        cell[2] += position.outstanding_minor
    return tuple(
        PortfolioCell(stage, bucket_name, currency, count, overdue, outstanding)
        for (stage, bucket_name, currency), (count, overdue, outstanding) in sorted(
            sums.items(), key=lambda item: _cell_order(*item[0])
        )
    )


def _cell_order(stage: str, bucket_name: str, currency: str) -> tuple[int, str, int, str]:
    # Stages in the order a case passes them; a stage this code does not know goes last.
    stage_rank = REPORT_STAGES.index(stage) if stage in REPORT_STAGES else len(REPORT_STAGES)
    return (stage_rank, stage, BUCKETS.index(bucket_name), currency)


def _currencies(
    positions: Sequence[tuple[ReportCase, CasePosition]], parts: dict[str, PartsSummary]
) -> tuple[CurrencySummary, ...]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for case, position in positions:
        total = sums[case.currency]
        total[0] += 1
        total[1] += case.overdue_amount_minor
        total[2] += position.outstanding_minor
        total[3] += position.collected_minor
    return tuple(
        CurrencySummary(currency, cases, overdue, outstanding, collected, parts[currency])
        for currency, (cases, overdue, outstanding, collected) in sorted(sums.items())
    )


def _roll_rates(positions: Sequence[CasePosition]) -> tuple[RollRate, ...]:
    rates = []
    for (name, _), (next_name, next_first) in pairwise(BUCKET_STARTS):
        were_in = [p for p in positions if p.was_in(name)]
        rolled = sum(1 for p in were_in if p.dpd_reached >= next_first)
        rates.append(RollRate(name, next_name, Ratio(rolled, len(were_in))))
    return tuple(rates)


def _commitments(
    cases: dict[str, ReportCase], events: Iterable[ReportEvent], as_of: AsOf
) -> tuple[CommitmentSummary, CommitmentSummary]:
    """Promises, then plans."""
    # A promise or plan is counted once per case and id, whatever the log repeats.
    seen: dict[str, set[tuple[str, str]]] = {kind: set() for kind in COMMITMENT_KINDS}
    for event in events:
        case = cases.get(event.case_id)
        if case is not None and event.kind in seen and as_of.includes(event.at, case.timezone):
            seen[event.kind].add((event.case_id, event.ref_id))

    def summary(made: str, succeeded: str, broken: str) -> CommitmentSummary:
        settled = seen[succeeded] | seen[broken]
        # A commitment settled by the report's moment was made by then, logged or not.
        return CommitmentSummary(
            made=len(seen[made] | settled),
            succeeded=len(seen[succeeded]),
            broken=len(seen[broken]),
        )

    return (
        summary(AuditKind.PROMISE_MADE, AuditKind.PROMISE_KEPT, AuditKind.PROMISE_BROKEN),
        summary(AuditKind.PLAN_AGREED, AuditKind.PLAN_COMPLETED, AuditKind.PLAN_BROKEN),
    )
