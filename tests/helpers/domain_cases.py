"""A case and its setup as the domain sees them (no Temporal server), for tests of `decide`
and the domain's state changes: a loan of CNY 5,000 of a borrower in Shanghai."""

from __future__ import annotations

from datetime import date, datetime

from domain.case import parse_case_input
from domain.case_state import CaseState
from domain.clock import case_clock
from domain.decisions import CaseSetup
from domain.policy import Policy

TIMEZONE = "Asia/Shanghai"


def shanghai_case(
    policy: Policy, *, due: date, opened: datetime, loan_id: str = "L-1"
) -> tuple[CaseState, CaseSetup]:
    """Loan `loan_id`, due on `due`, opened at `opened` under `policy`."""
    case = parse_case_input(
        {
            "loan_id": loan_id,
            "borrower": {"borrower_id": f"B-{loan_id.removeprefix('L-')}", "timezone": TIMEZONE},
            "currency": "CNY",
            "overdue_amount_minor": 500000,
            "due_date": due.isoformat(),
        },
        now=opened,
    )
    clock = case_clock(due, TIMEZONE, opened, policy.day_seconds)
    return CaseState(case), CaseSetup(policy=policy, timezone=TIMEZONE, clock=clock)
