"""The case's state under floods of rejections, and the state it carries to its next run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.case import parse_case_input
from domain.case_records import REASON_MAX, REJECTIONS_KEPT, PaymentFact
from domain.case_state import CaseState
from domain.payments import parse_payment


# -- the state: bounded, and carried whole to the next run -----------------------------------
def test_a_flood_of_rejections_keeps_the_latest_in_state_and_every_one_in_the_journal() -> None:
    state = a_state()
    for n in range(3 * REJECTIONS_KEPT):
        state.reject_payment({"payment_id": f"p-{n}"}, "x" * 10_000, record_id=f"rejected-{n}")
        state.reject_plan({"plan_id": f"pl-{n}"}, "bad plan")

    assert len(state.rejected_payments) == len(state.rejected_plans) == REJECTIONS_KEPT
    assert state.rejected_payments[-1]["payment_id"] == f"p-{3 * REJECTIONS_KEPT - 1}"
    assert all(len(entry["reason"]) <= REASON_MAX for entry in state.rejected_payments)
    view = state.status_view(3)
    assert view["rejected_counts"] == {"payments": 150, "plans": 150, "adjustments": 0}
    # Every rejection reaches the database, under a key of its own.
    payments = [fact for fact in state.journal if isinstance(fact, PaymentFact)]
    assert len({fact.record_id for fact in payments}) == 150
    plans = {fact.ref_id for fact in state.journal if not isinstance(fact, PaymentFact)}
    assert len(plans) == 150


def test_the_carried_state_is_the_state_and_keeps_its_answers() -> None:
    state = a_state()
    first = state.take_payment(payment("bank-1"), NOW)
    state.reject_payment({"payment_id": "bad"}, "currency: no", record_id="rejected-1")

    restored = CaseState.restored(state.carried())

    assert restored == state
    # A message sent again after the hand-over gets its first answer and changes nothing.
    again = restored.take_payment(payment("bank-1"), NOW)
    assert again == {**first, "duplicate": True}
    assert restored.paid_minor == 100
    # The same id with another body is still a conflict.
    with pytest.raises(ValueError, match="already used"):
        restored.take_payment(payment("bank-1", amount_minor=999), NOW)


def test_the_carried_state_of_a_flooded_case_stays_small() -> None:
    state = a_state()
    for n in range(2_000):
        state.reject_payment(
            {"payment_id": f"usd-{n}"}, "currency: 'USD' is not the case currency CNY", f"r-{n}"
        )
    # 2,000 unwritten records fit well within one 128 KB payload once compressed.
    assert len(state.carried()) < 128 * 1024


def a_state() -> CaseState:
    return CaseState(
        parse_case_input(
            {
                "loan_id": "L-1",
                "borrower": {"borrower_id": "B-1", "phone": "+8613800138000"},
                "currency": "CNY",
                "overdue_amount_minor": 500000,
                "due_date": "2026-11-01",
            },
            now=NOW,
        )
    )


def payment(payment_id: str, amount_minor: int = 100) -> Any:
    return parse_payment(
        {"payment_id": payment_id, "amount_minor": amount_minor, "currency": "CNY"},
        case_currency="CNY",
    )


NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
