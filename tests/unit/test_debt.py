"""The debt by part: accrual, allocation, adjustments, the profiles' limits, and properties that
hold for any sequence of payments, adjustments, holds, plans and days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.case import parse_case_input
from domain.case_state import CaseState
from domain.commitments import CommitmentRules, parse_plan
from domain.debt import (
    AccrualRules,
    Debt,
    DebtTerms,
    LoanTerms,
    Parts,
    allocate,
    debt_terms,
    parse_accrual_rules,
    parse_adjustment,
    parse_opening_parts,
    parse_terms,
)
from domain.errors import InvalidInput
from domain.messages import HoldRelease, HoldRequest
from domain.payments import Payment
from policies import load_policy

DUE = date(2026, 11, 1)
NOON = datetime(2026, 11, 1, 4, tzinfo=UTC)


def debt(principal: int = 400_000, rate: int = 5, **terms: object) -> Debt:
    opened = Debt.opened(Parts(principal, 50_000, 50_000), DUE)
    return Debt(
        opened.parts,
        opened.due_date,
        opened.accrued_through,
        DebtTerms(rate_bps_per_day=rate, cap_base_minor=principal, **terms),  # type: ignore[arg-type]
    )


# -- accrual ----------------------------------------------------------------------------------
def test_each_day_past_due_adds_the_floor_of_principal_times_rate() -> None:
    # 400,000 × 5 / 10,000 = 200 a day; the due date itself is not past due.
    assert debt().accrued(DUE, accruing=True).parts.penalty_minor == 0
    assert debt().accrued(DUE + timedelta(days=1), accruing=True).parts.penalty_minor == 200
    assert debt().accrued(DUE + timedelta(days=10), accruing=True).parts.penalty_minor == 2_000
    # Rounded down each day, not once over the period: 33,333 × 1 / 10,000 = 3.3333 → 3.
    assert debt(33_333, 1).accrued(DUE + timedelta(days=3), accruing=True).parts.penalty_minor == 9


def test_posting_twice_on_the_way_is_the_same_as_posting_once() -> None:
    once = debt().accrued(DUE + timedelta(days=9), accruing=True)
    twice = debt().accrued(DUE + timedelta(days=4), accruing=True)
    twice = twice.accrued(DUE + timedelta(days=9), accruing=True)
    assert once == twice
    # And a day already posted is never posted again.
    assert once.accrued(DUE + timedelta(days=9), accruing=True) == once


def test_the_principal_at_a_days_start_sets_that_days_penalty() -> None:
    day_three = debt().accrued(DUE + timedelta(days=3), accruing=True)
    # fees 50,000, penalty 600, interest 50,000, then 99,400 of principal.
    paid, allocation = day_three.paid(200_000)
    assert allocation.paid == Parts(99_400, 50_000, 50_000, 600)
    assert paid.parts.principal_minor == 300_600
    later = paid.accrued(DUE + timedelta(days=4), accruing=True)
    assert later.parts.penalty_minor == 300_600 * 5 // 10_000


def test_days_when_the_case_does_not_accrue_add_nothing() -> None:
    paused = debt().accrued(DUE + timedelta(days=5), accruing=False)
    assert paused.parts.penalty_minor == 0
    assert paused.accrued(DUE + timedelta(days=6), accruing=True).parts.penalty_minor == 200


def test_the_cap_holds_penalty_plus_interest_within_the_annual_rate() -> None:
    # 24% a year of 100,000 over 100 days is 6,575; interest posted since opening counts.
    capped = Debt.opened(Parts(100_000, 1_000, 0), DUE)
    capped = Debt(
        capped.parts,
        DUE,
        DUE,
        DebtTerms(rate_bps_per_day=100, annual_cap_bps=2400, cap_base_minor=100_000),
        interest_charged_minor=1_000,
    )
    after = capped.accrued(DUE + timedelta(days=100), accruing=True)
    assert after.parts.penalty_minor == 100_000 * 2400 * 100 // (10_000 * 365) - 1_000
    # Interest posted beyond what the days allow leaves no room for penalty yet.
    assert capped.accrued(DUE + timedelta(days=5), accruing=True).parts.penalty_minor == 0
    # Below the cap the rate applies: 10 a day against a cap of 65.75 a day.
    low = Debt(Parts(100_000), DUE, DUE, DebtTerms(1, 2400, 100_000))
    assert low.accrued(DUE + timedelta(days=5), accruing=True).parts.penalty_minor == 50


# -- the profiles -----------------------------------------------------------------------------
def test_cn_online_lending_caps_and_us_reg_f_needs_authorisation() -> None:
    cn = load_policy("cn-online-lending").accrual
    assert cn.annual_cap_bps == 2400
    us = load_policy("us-reg-f").accrual
    opening = Parts(100_000)
    unauthorised = debt_terms(us, LoanTerms(penalty_rate_bps_per_day=5), opening)
    assert unauthorised.rate_bps_per_day == 0 and not unauthorised.charges_allowed
    authorised = debt_terms(us, LoanTerms(5, fees_authorized=True), opening)
    assert authorised.rate_bps_per_day == 5 and authorised.charges_allowed
    # The default policy accrues nothing unless the loan's terms say so.
    default = load_policy("default").accrual
    assert debt_terms(default, None, opening).rate_bps_per_day == 0
    assert debt_terms(default, LoanTerms(7), opening).rate_bps_per_day == 7


def test_without_authorisation_no_fee_or_penalty_can_be_added() -> None:
    unauthorised = debt(charges_allowed=False)
    with pytest.raises(InvalidInput) as refused:
        unauthorised.adjusted("fees", 1_000)
    assert refused.value.field == "component"
    # Interest posted by the loan system and any reduction still go through.
    assert unauthorised.adjusted("interest", 1_000).parts.interest_minor == 51_000
    assert unauthorised.adjusted("fees", -1_000).parts.fees_minor == 49_000


# -- allocation and adjustments ---------------------------------------------------------------
def test_a_payment_pays_the_parts_off_in_the_policys_order() -> None:
    parts = Parts(100, 20, 10, 5)
    default = allocate(parts, 30, ("fees", "penalty", "interest", "principal"))
    assert default.paid == Parts(0, 15, 10, 5) and default.overpaid_minor == 0
    principal_first = allocate(parts, 30, ("principal", "interest", "fees", "penalty"))
    assert principal_first.paid == Parts(30)
    over = allocate(parts, 200, ("fees", "penalty", "interest", "principal"))
    assert over.remaining == Parts() and over.overpaid_minor == 65


def test_no_adjustment_takes_penalty_plus_interest_above_the_cap() -> None:
    capped = Debt(Parts(100_000), DUE, DUE + timedelta(days=10), DebtTerms(0, 2400, 100_000))
    # 24% a year of 100,000 over 10 days is 657.
    assert capped.adjusted("interest", 657).interest_charged_minor == 657
    with pytest.raises(InvalidInput) as refused:
        capped.adjusted("interest", 400).adjusted("penalty", 258)
    assert refused.value.field == "amount_minor"


def test_no_adjustment_takes_a_part_below_zero() -> None:
    with pytest.raises(InvalidInput) as refused:
        debt().adjusted("interest", -50_001)
    assert refused.value.field == "amount_minor"
    assert debt().adjusted("interest", -50_000).parts.interest_minor == 0


# -- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"principal_minor": 1, "interest_minor": 0, "fees_minor": 0}, "balance"),
        ({"principal_minor": 10, "penalty_minor": 0}, "balance.penalty_minor"),
        ({"principal_minor": -1, "interest_minor": 11}, "balance.principal_minor"),
        ({"principal_minor": "10"}, "balance.principal_minor"),
        ([10], "balance"),
    ],
)
def test_an_opening_balance_must_be_parts_summing_to_the_overdue_amount(
    raw: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_opening_parts(raw, 10)
    assert refused.value.field == field


def test_the_start_input_carries_parts_terms_and_segment() -> None:
    data = {
        "loan_id": "L-1",
        "borrower": {"borrower_id": "B-1"},
        "currency": "CNY",
        "overdue_amount_minor": 500_000,
        "due_date": "2026-11-01",
        "balance": {"principal_minor": 400_000, "interest_minor": 50_000, "fees_minor": 50_000},
        "terms": {"penalty_rate_bps_per_day": 5, "fees_authorized": True},
        "segment": "salaried",
    }
    case = parse_case_input(data, now=NOON)
    assert case.opening_parts == Parts(400_000, 50_000, 50_000)
    assert case.terms == LoanTerms(5, True)
    assert case.segment == "salaried"
    plain = parse_case_input({**data, "balance": None, "terms": None}, now=NOON)
    assert plain.opening_parts == Parts(500_000)
    with pytest.raises(InvalidInput) as refused:
        parse_case_input({**data, "terms": {"penalty_rate_bps_per_day": 101}}, now=NOON)
    assert refused.value.field == "terms.penalty_rate_bps_per_day"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"penalty_rate_bps_per_day": -1}, "terms.penalty_rate_bps_per_day"),
        ({"fees_authorized": "yes"}, "terms.fees_authorized"),
        ({"rate": 5}, "terms.rate"),
    ],
)
def test_bad_terms_name_their_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_terms(raw)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"adjustment_id": "", "component": "fees", "amount_minor": 1}, "adjustment_id"),
        ({"adjustment_id": "a", "component": "tax", "amount_minor": 1}, "component"),
        ({"adjustment_id": "a", "component": "fees", "amount_minor": 0}, "amount_minor"),
        ({"adjustment_id": "a", "component": "fees", "amount_minor": 1.5}, "amount_minor"),
        ({"adjustment_id": "a", "component": "fees", "amount_minor": 2**53}, "amount_minor"),
        ({"adjustment_id": "a", "component": "fees", "amount_minor": 1, "reason": 3}, "reason"),
    ],
)
def test_bad_adjustments_name_their_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_adjustment(raw)
    assert refused.value.field == field


def test_a_policys_accrual_table_is_checked() -> None:
    assert parse_accrual_rules({}) == AccrualRules()
    for raw, field in [
        (
            {"allocation_order": ["fees", "fees", "interest", "principal"]},
            "accrual.allocation_order",
        ),
        ({"penalty_rate": 1}, "accrual.penalty_rate"),
        ({"fees_need_authorization": 1}, "accrual.fees_need_authorization"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            parse_accrual_rules(raw)
        assert refused.value.field == field


# -- properties of a case's debt --------------------------------------------------------------
def new_case(cap_bps: int | None) -> CaseState:
    raw = {
        "loan_id": "L-1",
        "borrower": {"borrower_id": "B-1"},
        "currency": "CNY",
        "overdue_amount_minor": 500_000,
        "due_date": DUE.isoformat(),
        "balance": {"principal_minor": 400_000, "interest_minor": 50_000, "fees_minor": 50_000},
        "terms": {"penalty_rate_bps_per_day": 50},
    }
    state = CaseState(parse_case_input(raw, now=NOON))
    rules = AccrualRules(annual_cap_bps=cap_bps)
    state.set_debt_terms(debt_terms(rules, state.case.terms, state.case.opening_parts))
    return state


OPERATIONS = st.one_of(
    st.tuples(st.just("days"), st.integers(1, 40)),
    st.tuples(st.just("pay"), st.integers(1, 300_000)),
    st.tuples(
        st.just("adjust"),
        st.sampled_from(["principal", "interest", "fees", "penalty"]),
        st.integers(-60_000, 60_000).filter(bool),
    ),
    st.tuples(st.just("hold"), st.sampled_from(["bankruptcy", "dispute", "deceased"])),
    st.tuples(st.just("release")),
    st.tuples(st.just("plan")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(OPERATIONS, max_size=25), st.sampled_from([None, 2400]))
def test_the_parts_never_go_negative_always_sum_and_stay_within_the_cap(
    operations: list[tuple[object, ...]], cap_bps: int | None
) -> None:
    state = new_case(cap_bps)
    today, now = DUE, NOON
    for number, operation in enumerate(operations):
        kind = operation[0]
        try:
            if kind == "days":
                days = int(operation[1])  # type: ignore[call-overload]
                today, now = today + timedelta(days=days), now + timedelta(days=days)
            state.accrue(today, now)
            if kind == "pay":
                amount = int(operation[1])  # type: ignore[call-overload]
                state.take_payment(Payment(f"p{number}", amount, "CNY"), now)
            elif kind == "adjust":
                component, amount = str(operation[1]), int(operation[2])  # type: ignore[call-overload]
                state.take_adjustment(
                    parse_adjustment(
                        {
                            "adjustment_id": f"a{number}",
                            "component": component,
                            "amount_minor": amount,
                        }
                    ),
                    now,
                )
            elif kind == "hold":
                state.place_hold(HoldRequest(f"h{number}", str(operation[1]), "test"), now)
            elif kind == "release" and state.holds:
                state.release_hold(HoldRelease(next(iter(state.holds))))
            elif kind == "plan":
                outstanding = state.outstanding_minor
                plan = parse_plan(
                    {
                        "plan_id": f"plan{number}",
                        "installments": [
                            {
                                "due_date": (today + timedelta(days=7)).isoformat(),
                                "amount_minor": outstanding,
                            }
                        ],
                    }
                )
                state.take_plan(plan, CommitmentRules(), today)
        except InvalidInput:
            pass  # refused, as the case refuses it: nothing changed
        parts = state.current_debt.parts
        assert min(parts.principal_minor, parts.interest_minor, parts.fees_minor) >= 0
        assert parts.penalty_minor >= 0
        assert state.outstanding_minor == parts.total_minor
        debt_now = state.current_debt
        cap = debt_now.terms.cap_minor((today - DUE).days)
        if cap is not None:
            charged = debt_now.penalty_charged_minor + debt_now.interest_charged_minor
            assert charged <= cap
    # Every payment's allocation adds up to what it applied.
    for payment in state.payments:
        assert payment.allocation is not None
        assert sum(payment.allocation.values()) == payment.applied_minor
