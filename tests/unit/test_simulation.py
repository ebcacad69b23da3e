"""The simulator without a server: the borrowers' answers, one case as the workflow runs it, and
a portfolio's run (determinism, caps across a borrower's loans, no daily ticks)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.case import CaseInput, parse_case_input
from domain.commitments import Owed, check_plan, parse_plan
from domain.errors import InvalidInput
from domain.simulation.answers import Borrower, CaseView, Contacted, draw
from domain.simulation.behaviours import Behaviours, parse_behaviours
from domain.simulation.portfolio import Loan, PortfolioRun
from domain.simulation.results import policy_result
from domain.strategy_figures import UnitCosts
from policies import load_policy
from tests.helpers.cases import case_input

# 09:00 in Shanghai, inside the contact window.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
DEFAULT = load_policy("default")
NOBODY_ANSWERS = parse_behaviours({"default": {}})


def loan(days_overdue: int, loan_id: str = "L-1", **changes: Any) -> CaseInput:
    return parse_case_input(
        case_input(TODAY - timedelta(days=days_overdue), loan_id=loan_id, **changes), now=START
    )


def one_answer(answer: str, **segment: Any) -> Behaviours:
    """Every contact on every channel answered with `answer`, an hour later."""
    channels = {
        channel: {"delay_hours": 1, answer: 1.0}
        for channel in ("sms", "email", "letter", "call", "field_visit")
    }
    return parse_behaviours({"default": {**channels, **segment}})


def borrower(behaviours: Behaviours) -> Borrower:
    return Borrower(behaviours.of(None), DEFAULT.commitments, DEFAULT.day_seconds, seed=1)


def view(**changes: Any) -> CaseView:
    base = CaseView("L-1", "CNY", 500000, TODAY, True, False, False, 0)
    return replace(base, **changes)


# -- the draw ----------------------------------------------------------------------------
def test_the_draw_is_the_same_on_every_run_and_differs_by_seed_loan_and_contact() -> None:
    first = draw(7, "L-1", 0)
    assert 0 <= first < 1 and draw(7, "L-1", 0) == first
    assert len({first, draw(8, "L-1", 0), draw(7, "L-2", 0), draw(7, "L-1", 1)}) == 4


# -- answers -------------------------------------------------------------------------------
def test_a_borrower_who_pays_pays_what_is_owed_at_the_moment_of_answering() -> None:
    answer = borrower(one_answer("pay_full")).answer(
        Contacted("sms", "a-1", 0), view(), START, stopped=False
    )
    (turn,) = answer.turns
    assert turn.at == START and answer.given == "pay_full"
    assert [(m.update, m.body) for m in turn.messages] == [
        (
            "record_payment",
            {"payment_id": "sim-0-pay", "amount_minor": 500000, "currency": "CNY"},
        )
    ]


def test_a_promise_on_a_call_is_recorded_by_the_agent_and_kept_on_its_day() -> None:
    answer = borrower(one_answer("promise_keep", promise_days=30)).answer(
        Contacted("call", "call-1", 3), view(), START, stopped=False
    )
    now, later = answer.turns
    assert [m.update for m in now.messages] == ["record_contact_outcome", "promise_to_pay"]
    assert now.messages[0].body == {"attempt_id": "call-1", "outcome": "promised"}
    # At most the policy's 14 days ahead, and the payment on that day.
    assert now.messages[1].body["due_date"] == (TODAY + timedelta(days=14)).isoformat()
    assert later.at == START + timedelta(days=14)
    assert later.messages[0].body["amount_minor"] == 500000


def test_a_plan_is_one_the_case_takes_and_a_missed_one_stops_paying() -> None:
    behaviours = one_answer("plan_miss", plan_installments=4, plan_installments_paid=2)
    answer = borrower(behaviours).answer(
        Contacted("field_visit", "v-1", 5), view(outstanding_minor=100001), START, stopped=False
    )
    now, *later = answer.turns
    assert [m.update for m in now.messages] == ["record_visit_outcome", "propose_plan"]
    plan = parse_plan(now.messages[1].body)
    check_plan(plan, DEFAULT.commitments, today=TODAY, owed=Owed(100001, "CNY"))
    assert [i.amount_minor for i in plan.installments] == [25000, 25000, 25000, 25001]
    assert [turn.messages[0].body["payment_id"] for turn in later] == [
        "sim-5-plan-1",
        "sim-5-plan-2",
    ]


@pytest.mark.parametrize(
    ("case", "stopped", "outcome"),
    [
        (view(committed=True), False, "no_answer"),
        (view(broken_promises=3), False, "no_answer"),
        (view(), True, "no_answer"),
    ],
)
def test_a_promise_the_case_would_refuse_is_not_made(
    case: CaseView, stopped: bool, outcome: str
) -> None:
    answer = borrower(one_answer("promise_break")).answer(
        Contacted("call", "c-1", 0), case, START, stopped=stopped
    )
    assert answer.given is None
    assert [m.body for turn in answer.turns for m in turn.messages] == [
        {"attempt_id": "c-1", "outcome": outcome}
    ]


def test_a_closed_or_held_case_gets_no_answer_at_all() -> None:
    someone = borrower(one_answer("pay_full"))
    for case in (view(open=False), view(on_hold=True)):
        assert someone.answer(Contacted("call", "c", 0), case, START, stopped=False).turns == ()


def test_the_view_of_the_state_and_of_the_status_query_are_the_same() -> None:
    run = PortfolioRun(
        [Loan(loan(20))], DEFAULT, one_answer("promise_break"), seed=1, start=START, days=40
    )
    state = run.run()[0].case.state
    assert state.broken_promises and state.contacts
    today = TODAY + timedelta(days=40)
    assert CaseView.of_status(state.status_view(60), today) == CaseView.of_state(state, today)


# -- one case ------------------------------------------------------------------------------
def test_an_unanswered_case_climbs_the_ladder_as_the_workflow_does() -> None:
    """The same contacts as `test_unpaid_case_climbs_every_stage_and_is_written_off`
    (tests/workflow/test_workflow.py) finds on the real workflow, written off at DPD 180."""
    (run,) = PortfolioRun(
        [Loan(loan(0))], DEFAULT, NOBODY_ANSWERS, seed=1, start=START, days=200
    ).run()
    state = run.case.state
    assert [c.channel for c in state.contacts] == [
        *("sms", "email", "sms", "email"),
        *("call",) * 6,
        *("letter", "field_visit", "field_visit", "legal"),
    ]
    assert state.status == "written_off"
    assert run.case.setup.clock.days_past_due(state.closed_at or START) == 180


def test_time_jumps_from_event_to_event_with_no_daily_ticks() -> None:
    decisions: list[datetime] = []
    run = PortfolioRun([Loan(loan(0))], DEFAULT, NOBODY_ANSWERS, seed=1, start=START, days=180)
    case = run.runs[0].case
    original = case.run

    def counted(now: datetime, send: Any) -> None:
        decisions.append(now)
        original(now, send)

    case.run = counted  # type: ignore[method-assign]
    run.run()
    # A wake for each step's moment, the call tasks' SLAs, the bucket boundaries and the
    # write-off: a few dozen over the 180 days, not one a day.
    assert 14 <= len(decisions) < 40
    assert len(set(decisions)) == len(decisions)


# -- a portfolio ---------------------------------------------------------------------------
def test_two_loans_of_one_borrower_share_the_caps_the_second_contact_is_deferred() -> None:
    """Both loans' first SMS falls due at the same moment; the SMS cap (one a day) is counted
    over the borrower's loans, so the second loan's SMS goes out the next morning."""
    shared = {"borrower_id": "B-1", "phone": "+8613800138000", "timezone": "Asia/Shanghai"}
    loans = [Loan(loan(3, "L-1", borrower=shared)), Loan(loan(3, "L-2", borrower=shared))]
    first, second = PortfolioRun(loans, DEFAULT, NOBODY_ANSWERS, seed=1, start=START, days=1).run()
    assert [c.at for c in first.case.state.contacts] == [START.isoformat()]
    (late,) = second.case.state.contacts
    assert datetime.fromisoformat(late.at) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert second.case.state.unsent == 1


def test_a_contact_with_no_detail_to_reach_is_skipped_and_not_answered() -> None:
    no_email = {"borrower_id": "B-2", "phone": "+8613800138000", "timezone": "Asia/Shanghai"}
    (run,) = PortfolioRun(
        [Loan(loan(5, borrower=no_email))],
        DEFAULT,
        one_answer("pay_full"),
        seed=1,
        start=START,
        days=1,
    ).run()
    assert [(c.channel, c.result) for c in run.case.state.contacts] == [
        ("email", "skipped_no_contact")
    ]
    assert run.case.state.paid_minor == 0


def portfolio() -> list[Loan]:
    return [Loan(loan(days, f"L-{days}"), "default") for days in range(0, 60, 3)]


def figures_of(seed: int, behaviours: Behaviours) -> Any:
    run = PortfolioRun(portfolio(), DEFAULT, behaviours, seed=seed, start=START, days=180)
    return policy_result(
        "default", run.run(), start=START, days=180, unit_costs=UnitCosts({}), refused=run.refused
    )


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    mixed = parse_behaviours(
        {
            "default": {
                "sms": {"delay_hours": 2, "pay_full": 0.3, "promise_keep": 0.2},
                "call": {"delay_hours": 2, "pay_part": 0.3, "plan_keep": 0.2, "dispute": 0.1},
            }
        }
    )
    first, again, other = figures_of(5, mixed), figures_of(5, mixed), figures_of(6, mixed)
    assert first == again
    assert first.outcomes != other.outcomes
    assert first.curve[-1] == first.figures.recovery_rate.value
    assert list(first.curve) == sorted(first.curve)


def test_a_message_the_case_refuses_changes_nothing_and_is_counted() -> None:
    run = PortfolioRun([Loan(loan(5))], DEFAULT, NOBODY_ANSWERS, seed=1, start=START, days=1)
    case = run.runs[0].case
    run.run()
    before = case.state.status_view(5)
    with pytest.raises(InvalidInput) as refused:
        case.take(
            "promise_to_pay",
            {"promise_id": "p", "amount_minor": 1, "due_date": "2020-01-01"},
            START,
        )
    assert refused.value.field == "due_date"
    assert case.state.status_view(5) == before
