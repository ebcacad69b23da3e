"""A phone that cannot be used: what the ladder sends instead, decided without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.case import parse_case_input
from domain.case_records import Contact
from domain.case_state import CaseState
from domain.clock import case_clock
from domain.decide import decide
from domain.decisions import CaseSetup, RunStep, Skip
from domain.messages import Outcome
from policies import load_policy


def test_with_the_phone_unusable_an_sms_reminder_falls_back_to_email_or_is_skipped() -> None:
    policy = load_policy("default")
    for email, expected in (("b@example.cn", "email"), (None, "skip")):
        case = parse_case_input(
            {
                "loan_id": "L-1",
                "borrower": {"borrower_id": "B-1", "timezone": "Asia/Shanghai", "email": email},
                "currency": "CNY",
                "overdue_amount_minor": 500000,
                "due_date": DUE.isoformat(),
            },
            now=OPENED,
        )
        state = CaseState(case)
        state.contacts.append(Contact("c1", "call", "first_call", OPENED.isoformat(), "queued", 14))
        state.record_outcome(Outcome("c1", "wrong_number"), "call", OPENED)
        plan = CaseSetup(policy, "Asia/Shanghai", case_clock(DUE, "Asia/Shanghai", OPENED, 86400))
        state.next_step = 2  # the SMS at DPD 7 is next
        decision = decide(state, plan, datetime(2026, 3, 8, 2, 0, tzinfo=UTC))
        if expected == "email":
            assert isinstance(decision, RunStep) and decision.step.channel == "email"
        else:
            assert isinstance(decision, Skip) and "wrong number" in decision.why


DUE = date(2026, 3, 1)


OPENED = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)  # DPD 14, 10:00 in Shanghai
