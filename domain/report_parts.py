"""The portfolio report's figures by part of the debt (principal, interest, fees, penalty): what
payments paid off, what was charged off when cases were written off, and what came back after.

Rows recorded before debts had parts have none: a payment without an allocation paid principal,
and a case without a balance by part owes its outstanding amount as principal, as the case
itself counted before debts had parts.

A written-off case's balance is its latest (the case database keeps no other), which money paid
after the write-off has reduced; what was charged off is that balance and those payments'
allocations together (after a write-off nothing accrues and nothing is adjusted). A payment is
"after the write-off" when it was recorded after the case closed (`received_at` > `closed_at`):
one recorded with the closing batch itself counts as before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from domain.debt import COMPONENTS, Parts

if TYPE_CHECKING:
    from domain.report import AsOf, ReportCase, ReportPayment

WRITTEN_OFF = "written_off"


@dataclass(frozen=True)
class PartsSummary:
    """One currency's figures by part."""

    # What the payments counted in `collected_minor` paid off.
    collected: Parts = field(default_factory=Parts)
    # What the cases written off by the report's moment owed when they were written off.
    charged_off: Parts = field(default_factory=Parts)
    # What those cases were paid after their write-off, by the report's moment.
    recovered: Parts = field(default_factory=Parts)
    written_off_cases: int = 0


def paid_off(payment: ReportPayment) -> Parts:
    """What an applied payment paid off; all principal where no allocation was recorded."""
    if payment.allocation is not None:
        return payment.allocation
    return Parts(principal_minor=payment.applied_minor)


def owed(case: ReportCase) -> Parts:
    """A case's latest balance by part; all principal where none was recorded."""
    if case.balance is not None:
        return case.balance
    return Parts(principal_minor=case.outstanding_minor)


def add(left: Parts, right: Parts) -> Parts:
    total = left
    for component in COMPONENTS:
        total = total.plus(component, right.of(component))
    return total


def written_off_by(case: ReportCase, as_of: AsOf) -> bool:
    """Whether the case was written off by the report's moment."""
    closed_at = case.closed_at
    return (
        case.status == WRITTEN_OFF
        and closed_at is not None
        and as_of.includes(closed_at, case.timezone)
    )


def after_write_off(case: ReportCase, received_at: datetime) -> bool:
    return case.closed_at is not None and received_at > case.closed_at


def parts_by_currency(
    cases: dict[str, ReportCase], payments: Iterable[ReportPayment], as_of: AsOf
) -> dict[str, PartsSummary]:
    """Each currency's figures by part over the report's cases (`cases`, by id)."""
    collected: dict[str, Parts] = defaultdict(Parts)
    charged_off: dict[str, Parts] = defaultdict(Parts)
    recovered: dict[str, Parts] = defaultdict(Parts)
    written_off = {case_id: case for case_id, case in cases.items() if written_off_by(case, as_of)}
    for payment in payments:
        case = cases.get(payment.case_id)
        if case is None:
            continue
        part = paid_off(payment)
        counted = as_of.includes(payment.received_at, case.timezone)
        if counted:
            collected[case.currency] = add(collected[case.currency], part)
        if payment.case_id in written_off and after_write_off(case, payment.received_at):
            # Every one, even after the report's moment: the latest balance is net of them all.
            # Only those by the report's moment were recovered by then.
            charged_off[case.currency] = add(charged_off[case.currency], part)
            if counted:
                recovered[case.currency] = add(recovered[case.currency], part)
    counts: dict[str, int] = defaultdict(int)
    for case in written_off.values():
        charged_off[case.currency] = add(charged_off[case.currency], owed(case))
        counts[case.currency] += 1
    currencies = {case.currency for case in cases.values()}
    return {
        currency: PartsSummary(
            collected=collected[currency],
            charged_off=charged_off[currency],
            recovered=recovered[currency],
            written_off_cases=counts[currency],
        )
        for currency in currencies
    }
