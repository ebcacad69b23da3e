"""The plan calculator: schedules that sum to the amount and pass the case's own plan check,
refusals naming the field, and the limits the agent's page shows."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.commitments import CommitmentRules, Owed, check_plan, parse_plan
from domain.plan_calculator import (
    MONTHLY,
    DueLimits,
    Interval,
    PlanRefusal,
    plan_limits,
    promise_limits,
    quote_plan,
)

RULES = CommitmentRules()  # at most 12 installments, the first within 30 days
TODAY = date(2026, 3, 21)
OWED = Owed(100_000, "CNY")


def test_equal_installments_with_the_remainder_on_the_first() -> None:
    quote = quote_plan(
        OWED, 3, TODAY + timedelta(days=7), Interval(days=14), rules=RULES, today=TODAY
    )
    assert quote.accepted
    assert [i.amount_minor for i in quote.installments] == [33_334, 33_333, 33_333]
    assert [i.due_date for i in quote.installments] == [
        date(2026, 3, 28),
        date(2026, 4, 11),
        date(2026, 4, 25),
    ]


def test_monthly_dates_keep_the_day_or_take_the_months_last() -> None:
    rules = CommitmentRules(plan_first_within_days=30)
    quote = quote_plan(OWED, 4, date(2027, 1, 31), MONTHLY, rules=rules, today=date(2027, 1, 10))
    assert [i.due_date for i in quote.installments] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]


def test_the_quote_is_the_message_the_case_takes() -> None:
    quote = quote_plan(OWED, 12, TODAY + timedelta(days=1), MONTHLY, rules=RULES, today=TODAY)
    assert quote.accepted
    request = parse_plan(quote.message("P-1"))
    check_plan(request, RULES, today=TODAY, owed=OWED)  # raises if the case would refuse it
    assert request.installments == quote.installments


def test_a_plan_too_long_is_refused_naming_the_field() -> None:
    quote = quote_plan(OWED, 13, TODAY, MONTHLY, rules=RULES, today=TODAY)
    assert quote.refusal == PlanRefusal("installments", "must be at most 12 installments", "count")
    assert len(quote.installments) == 13  # shown, so the agent sees what was asked


def test_a_first_date_too_late_is_refused_naming_the_first_due_date() -> None:
    quote = quote_plan(OWED, 2, TODAY + timedelta(days=31), MONTHLY, rules=RULES, today=TODAY)
    assert quote.refusal is not None
    assert (quote.refusal.field, quote.refusal.calculator_input) == (
        "installments[0].due_date",
        "first_due",
    )


def test_inputs_no_schedule_can_come_from_are_refused() -> None:
    first = TODAY + timedelta(days=1)
    assert quote_plan(OWED, 0, first, MONTHLY, rules=RULES, today=TODAY).refusal is not None
    assert quote_plan(OWED, 61, first, MONTHLY, rules=RULES, today=TODAY).refusal is not None
    tiny = quote_plan(Owed(2, "CNY"), 3, first, MONTHLY, rules=RULES, today=TODAY)
    assert tiny.refusal is not None and tiny.refusal.calculator_input == "count"
    still = quote_plan(OWED, 2, first, Interval(), rules=RULES, today=TODAY)
    assert still.refusal is not None and still.refusal.calculator_input == "interval"


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    count=st.integers(min_value=1, max_value=12),
    first_in=st.integers(min_value=0, max_value=30),
    monthly=st.booleans(),
    days=st.integers(min_value=1, max_value=45),
)
def test_any_buildable_schedule_sums_to_the_amount_and_passes_the_cases_check(
    amount: int, count: int, first_in: int, monthly: bool, days: int
) -> None:
    owed = Owed(amount, "CNY")
    interval = MONTHLY if monthly else Interval(days=days)
    quote = quote_plan(
        owed, count, TODAY + timedelta(days=first_in), interval, rules=RULES, today=TODAY
    )
    if count > amount:
        assert quote.refusal is not None and quote.installments == ()
        return
    assert quote.accepted, quote.refusal
    assert sum(i.amount_minor for i in quote.installments) == amount
    shares = [i.amount_minor for i in quote.installments]
    assert max(shares) - min(shares) < count  # equal but for the first's remainder
    check_plan(parse_plan(quote.message("P-1")), RULES, today=TODAY, owed=owed)


def test_the_limits_the_page_shows() -> None:
    limits = plan_limits(RULES, today=TODAY)
    assert limits.max_installments == 12
    assert limits.first_due == DueLimits(TODAY, date(2026, 4, 20))
    promise = promise_limits(RULES, today=TODAY, owed=OWED)
    assert promise.max_amount_minor == 100_000
    assert promise.due == DueLimits(TODAY, date(2026, 4, 4))
