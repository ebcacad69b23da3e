"""Promises, installment plans and settlements: the rules, without a Temporal server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.case_state import CaseState
from domain.commitments import (
    CommitmentRules,
    Installment,
    Owed,
    allocate,
    check_settlement,
    parse_plan,
    parse_promise,
    parse_settlement,
)
from domain.decide import decide
from domain.decisions import CaseSetup, Lapse, RunStep, Wait
from domain.errors import InvalidInput
from domain.payments import Payment
from policies import load_policy
from tests.helpers.domain_cases import shanghai_case

DUE = date(2026, 3, 1)
TODAY = date(2026, 3, 21)  # DPD 20: phone stage
NOW = datetime(2026, 3, 21, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
RULES = CommitmentRules()


def new_case() -> tuple[CaseState, CaseSetup]:
    return shanghai_case(load_policy("default"), due=DUE, opened=NOW)


def promise(promise_id: str = "pr-1", amount: int = 100000, days: int = 5) -> Any:
    return parse_promise(
        {
            "promise_id": promise_id,
            "amount_minor": amount,
            "due_date": (TODAY + timedelta(days=days)).isoformat(),
        }
    )


def plan_of(amounts: list[int], first_in: int = 10, every: int = 30, plan_id: str = "pl-1") -> Any:
    return parse_plan(
        {
            "plan_id": plan_id,
            "installments": [
                {
                    "due_date": (TODAY + timedelta(days=first_in + n * every)).isoformat(),
                    "amount_minor": amount,
                }
                for n, amount in enumerate(amounts)
            ],
        }
    )


def at_end_of(day: date, extra_days: int = 0) -> datetime:
    """Just after the end of `day` (+ extra days) in Shanghai."""
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC) + timedelta(
        days=extra_days, hours=1
    )


# -- promise to pay --------------------------------------------------------------
def test_a_promise_pauses_contact_until_its_due_date_plus_grace() -> None:
    state, plan = new_case()
    answer = state.take_promise(promise(), RULES, TODAY)
    assert answer == {"promise_id": "pr-1", "accepted": True, "status": "promise_pending"}
    decision = decide(state, plan, NOW)
    assert isinstance(decision, Wait) and decision.reason.startswith("contact paused")
    # Due 03-26, grace 1 day: it lapses at the end of 03-27 in Shanghai.
    assert decision.until == datetime(2026, 3, 27, 16, 0, tzinfo=UTC)


def test_a_promise_kept_by_payments_resumes_collection() -> None:
    state, plan = new_case()
    state.take_promise(promise(amount=100000), RULES, TODAY)
    state.take_payment(Payment("p-1", 60000, "CNY"), NOW)
    assert state.status == "promise_pending"
    state.take_payment(Payment("p-2", 40000, "CNY"), NOW)
    assert state.promise is not None and state.promise.state == "kept"
    assert state.status == "active"
    assert isinstance(decide(state, plan, NOW), RunStep | Wait)


def test_a_promise_kept_by_paying_everything_ends_the_case_paid() -> None:
    state, _plan = new_case()
    state.take_promise(promise(amount=100000), RULES, TODAY)
    state.take_payment(Payment("p-1", 500000, "CNY"), NOW)
    assert state.status == "paid"


def test_a_broken_promise_is_counted_with_its_shortfall_and_escalation_resumes() -> None:
    state, plan = new_case()
    state.take_promise(promise(amount=100000, days=2), RULES, TODAY)
    state.take_payment(Payment("p-1", 30000, "CNY"), NOW)
    lapse_at = at_end_of(TODAY + timedelta(days=3))
    assert decide(state, plan, lapse_at) == Lapse("promise")
    state.lapse(Lapse("promise"))
    assert state.promise is not None and state.promise.state == "broken"
    assert state.promise.shortfall_minor == 70000 and state.broken_promises == 1
    # It lapsed at 01:00 in Shanghai: the call task is due as soon as the window opens.
    decision = decide(state, plan, lapse_at)
    assert isinstance(decision, Wait) and decision.reason.startswith("call")
    assert decision.until == datetime(2026, 3, 25, 0, 0, tzinfo=UTC)


def test_the_fourth_promise_after_three_broken_is_refused() -> None:
    state, _plan = new_case()
    for number in range(3):
        state.take_promise(promise(f"pr-{number}"), RULES, TODAY)
        state.lapse(Lapse("promise"))
    with pytest.raises(InvalidInput) as caught:
        state.check_promise(promise("pr-4"), RULES, TODAY)
    assert caught.value.field == "promise_id" and "3 promises were broken" in caught.value.problem


@pytest.mark.parametrize(
    ("request_changes", "field"),
    [
        ({"amount": 600000}, "amount_minor"),
        ({"days": -1}, "due_date"),
        ({"days": 15}, "due_date"),
    ],
)
def test_an_invalid_promise_names_the_field(request_changes: dict[str, int], field: str) -> None:
    state, _plan = new_case()
    with pytest.raises(InvalidInput) as caught:
        state.check_promise(promise(**request_changes), RULES, TODAY)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert state.promise is None


def test_one_open_promise_at_a_time_and_the_same_one_again_is_a_duplicate() -> None:
    state, _plan = new_case()
    first = state.take_promise(promise(), RULES, TODAY)
    assert state.take_promise(promise(), RULES, TODAY) == first
    with pytest.raises(InvalidInput) as caught:
        state.check_promise(promise("pr-2"), RULES, TODAY)
    assert "still pending" in caught.value.problem
    with pytest.raises(InvalidInput):  # the same id with another body is a conflict
        state.check_promise(promise(amount=1), RULES, TODAY)


# -- installment plan ------------------------------------------------------------
def test_a_plan_suspends_escalation_and_payments_fill_installments_in_order() -> None:
    state, plan = new_case()
    state.stage = "phone"
    answer = state.take_plan(plan_of([200000, 200000, 100000]), RULES, TODAY)
    assert answer["status"] == "in_plan"
    decision = decide(state, plan, NOW)
    assert isinstance(decision, Wait) and decision.reason.startswith("contact paused")
    state.take_payment(Payment("p-1", 250000, "CNY"), NOW)  # a prepayment into the second
    assert state.plan is not None
    assert [(i.paid_minor, i.state) for i in state.plan.installments] == [
        (200000, "paid"),
        (50000, "due"),
        (0, "due"),
    ]
    state.take_payment(Payment("p-2", 250000, "CNY"), NOW)
    assert state.status == "plan_completed" and state.plan.state == "completed"


def test_a_missed_installment_breaks_the_plan_and_collection_resumes_where_it_began() -> None:
    state, plan = new_case()
    state.stage = "phone"
    state.next_step = 5  # reminders and the first call ran (DPD 3-14)
    state.take_plan(plan_of([250000, 250000], first_in=10), RULES, TODAY)
    state.take_payment(Payment("p-1", 250000, "CNY"), NOW)
    second_due = TODAY + timedelta(days=40)
    assert isinstance(decide(state, plan, at_end_of(second_due, 2)), Wait)
    missed_at = at_end_of(second_due, 3)
    assert decide(state, plan, missed_at) == Lapse("plan")
    state.lapse(Lapse("plan"))
    assert state.plan is not None and state.plan.state == "broken"
    assert [i.state for i in state.plan.installments] == ["paid", "missed"]
    # DPD 63 now: legal is due, but collection resumes in phone, where the plan began.
    decision = decide(state, plan, missed_at.replace(hour=3))
    decision = decide(state, plan, missed_at + timedelta(hours=10))
    assert isinstance(decision, RunStep) and decision.step.stage == "phone"


def test_a_case_in_plan_is_not_written_off() -> None:
    state, plan = new_case()
    state.take_plan(plan_of([100000] * 5, first_in=10, every=60), RULES, TODAY)
    for number in range(4):
        state.take_payment(Payment(f"p-{number}", 100000, "CNY"), NOW)
    late = datetime(2026, 10, 1, tzinfo=UTC)  # DPD 214
    assert isinstance(decide(state, plan, late), Wait | Lapse)
    assert state.status == "in_plan"


@pytest.mark.parametrize(
    ("amounts", "first_in", "every", "field"),
    [
        ([100000] * 4, 10, 30, "installments"),  # sums to 400,000, not 500,000
        ([50000] * 10 + [10000] * 5, 10, 30, "installments"),  # 15 installments > 12
        ([250000, 250000], 31, 30, "installments[0].due_date"),  # first beyond 30 days
        ([250000, 250000], 10, 0, "installments[1].due_date"),  # not increasing
    ],
)
def test_an_invalid_plan_names_the_field(
    amounts: list[int], first_in: int, every: int, field: str
) -> None:
    state, _plan = new_case()
    with pytest.raises(InvalidInput) as caught:
        state.check_plan(plan_of(amounts, first_in, every), RULES, TODAY)
    assert caught.value.field == field
    assert state.plan is None


# -- refusals state money as people read it ------------------------------------------
def test_refusals_state_the_outstanding_amount_as_money_not_minor_units() -> None:
    state, _plan = new_case()
    with pytest.raises(InvalidInput) as promised:
        state.check_promise(promise(amount=600000), RULES, TODAY)
    assert promised.value.problem == "must not exceed the outstanding amount (CNY 5,000.00)"
    with pytest.raises(InvalidInput) as planned:
        state.check_plan(plan_of([100000] * 4), RULES, TODAY)
    assert planned.value.problem == (
        "must sum to the outstanding amount CNY 5,000.00, not CNY 4,000.00"
    )
    settlement = parse_settlement(
        {"settlement_id": "s-1", "amount_minor": 500000, "due_date": "2026-04-01"}
    )
    with pytest.raises(InvalidInput) as settled:
        state.check_settlement(settlement, RULES, TODAY)
    assert settled.value.problem == "must be below the outstanding amount (CNY 5,000.00)"


def test_a_refusal_writes_the_amount_in_the_cases_own_currency() -> None:
    """A currency without a minor unit (JPY) has no decimals: the case's currency is used."""
    settlement = parse_settlement(
        {"settlement_id": "s-1", "amount_minor": 80000, "due_date": TODAY.isoformat()}
    )
    with pytest.raises(InvalidInput) as caught:
        check_settlement(settlement, RULES, today=TODAY, owed=Owed(50000, "JPY"))
    assert caught.value.problem == "must be below the outstanding amount (JPY 50,000)"


def test_a_rejected_plan_signal_is_kept_with_its_reason() -> None:
    state, _plan = new_case()
    state.reject_plan({"plan_id": "pl-x"}, "installments: must be a non-empty list")
    assert state.rejected_plans == [
        {"plan_id": "pl-x", "reason": "installments: must be a non-empty list"}
    ]


@given(
    st.lists(st.integers(min_value=1, max_value=100000), min_size=1, max_size=12),
    st.lists(st.integers(min_value=1, max_value=150000), max_size=20),
)
def test_allocation_fills_installments_in_order_and_loses_nothing(
    amounts: list[int], payments: list[int]
) -> None:
    installments = [
        Installment(date(2026, 1, 1) + timedelta(days=n), a) for n, a in enumerate(amounts)
    ]
    left_over = sum(allocate(installments, payment) for payment in payments)
    paid = sum(i.paid_minor for i in installments)
    assert paid + left_over == sum(payments)
    assert paid == min(sum(payments), sum(amounts))
    # Paid in order: once one is not fully paid, none after it has anything.
    partial = [n for n, i in enumerate(installments) if i.paid_minor < i.amount_minor]
    if partial:
        assert all(i.paid_minor == 0 for i in installments[partial[0] + 1 :])
    assert all((i.state == "paid") == (i.paid_minor == i.amount_minor) for i in installments)


# -- settlement ------------------------------------------------------------------
def test_a_settlement_paid_in_full_ends_the_case_settled_and_records_the_forgiven_rest() -> None:
    state, _plan = new_case()
    request = parse_settlement(
        {"settlement_id": "s-1", "amount_minor": 300000, "due_date": "2026-04-10"}
    )
    assert state.take_settlement(request, RULES, TODAY)["accepted"] is True
    state.take_payment(Payment("p-1", 300000, "CNY"), NOW)
    assert state.status == "settled"
    assert state.settlement is not None and state.settlement.forgiven_minor == 200000


def test_an_unpaid_settlement_lapses_and_collection_resumes() -> None:
    state, plan = new_case()
    request = parse_settlement(
        {"settlement_id": "s-1", "amount_minor": 300000, "due_date": "2026-03-25"}
    )
    state.take_settlement(request, RULES, TODAY)
    assert decide(state, plan, at_end_of(date(2026, 3, 25))) == Lapse("settlement")
    state.lapse(Lapse("settlement"))
    assert state.settlement is not None and state.settlement.state == "lapsed"
    assert state.status == "active"


@pytest.mark.parametrize(
    ("amount", "due", "field"),
    [(500000, "2026-04-01", "amount_minor"), (1000, "2026-05-01", "due_date")],
)
def test_an_invalid_settlement_names_the_field(amount: int, due: str, field: str) -> None:
    state, _plan = new_case()
    request = parse_settlement({"settlement_id": "s-1", "amount_minor": amount, "due_date": due})
    with pytest.raises(InvalidInput) as caught:
        state.check_settlement(request, RULES, TODAY)
    assert caught.value.field == field
