"""What a portfolio came to under one policy: each loan as a `CaseOutcome`, the policy's figures
(`domain.strategy_figures`, the same the live experiment report shows), and its recovery curve.

A simulated case is counted as the live report counts a real one: what payments took off its
debt, its status at the end of the run (open or final), the contacts that count against the
caps, and whether its days past due entered M1 and reached M2 while it was open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.caps import counts_against_caps
from domain.estimates import Estimate
from domain.report import CasePosition, bucket_days
from domain.simulation.portfolio import LoanRun
from domain.strategy_figures import ArmFigures, CaseOutcome, UnitCosts, arm_figures, stratified

M2_FIRST_DAY, _ = bucket_days("M2")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class PolicyResult:
    """A portfolio under one policy for `days` days."""

    policy: str
    days: int
    outcomes: tuple[CaseOutcome, ...]
    figures: ArmFigures
    # The recovery rate at the end of each day of the run, stratified by currency as the
    # recovery rate is; None for a day with nothing owed in some currency (an empty portfolio).
    curve: tuple[float | None, ...]
    # Messages of simulated borrowers the cases refused.
    refused: int


def loan_outcome(run: LoanRun, start: datetime, end: datetime) -> CaseOutcome:
    """What the loan's case, opened at `start`, came to by `end`, the end of the run."""
    state, clock = run.case.state, run.case.setup.clock
    position = CasePosition(
        stage=state.stage,
        closed=state.closed,
        dpd_at_opening=clock.days_past_due(start),
        dpd_reached=clock.days_past_due(state.closed_at or end),
        outstanding_minor=state.outstanding_minor,
        collected_minor=state.paid_minor,
    )
    contacts: dict[str, int] = {}
    for contact in state.contacts:
        if counts_against_caps(contact.result):
            contacts[contact.channel] = contacts.get(contact.channel, 0) + 1
    return CaseOutcome(
        loan_id=state.case.loan_id,
        currency=state.case.currency,
        overdue_minor=state.case.overdue_amount_minor,
        collected_minor=state.paid_minor,
        final_status=state.status,
        contacts=contacts,
        entered_m1=position.was_in("M1"),
        reached_m2=position.dpd_reached >= M2_FIRST_DAY,
    )


def recovery_curve(runs: Sequence[LoanRun], start: datetime, days: int) -> tuple[float | None, ...]:
    """The share of what was owed that payments had taken off by the end of each day."""
    currencies = sorted({run.case.state.case.currency for run in runs})
    cases = {code: 0 for code in currencies}
    owed = {code: 0 for code in currencies}
    collected = {code: [0] * days for code in currencies}
    for run in runs:
        state = run.case.state
        code = state.case.currency
        cases[code] += 1
        owed[code] += state.case.overdue_amount_minor
        for payment in state.payments:
            day = (datetime.fromisoformat(payment.at) - start) // DAY
            if 0 <= day < days:
                collected[code][day] += payment.applied_minor
    for code in currencies:
        total = 0
        for day in range(days):
            total += collected[code][day]
            collected[code][day] = total
    return tuple(
        stratified(
            [(cases[code], Estimate(collected[code][day] / owed[code])) for code in currencies]
        ).value
        for day in range(days)
    )


def policy_result(
    policy: str,
    runs: Sequence[LoanRun],
    *,
    start: datetime,
    days: int,
    unit_costs: UnitCosts,
    refused: int,
) -> PolicyResult:
    end = start + timedelta(days=days)
    outcomes = tuple(loan_outcome(run, start, end) for run in runs)
    return PolicyResult(
        policy=policy,
        days=days,
        outcomes=outcomes,
        figures=arm_figures(outcomes, unit_costs),
        curve=recovery_curve(runs, start, days),
        refused=refused,
    )
