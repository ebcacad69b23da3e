"""Unit tests of the pure rules in `domain/`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.caps import ALLOWED, Deferred, EarlierContact, check_contact
from domain.case import parse_case_input
from domain.case_state import CaseState
from domain.clock import bucket, calendar_days_past_due, case_clock
from domain.contact_rules import next_contact_time
from domain.debt import DEFAULT_ALLOCATION_ORDER, Parts, allocate
from domain.errors import InvalidInput
from domain.messages import (
    HoldRelease,
    Outcome,
    parse_contact_outcome,
    parse_hold,
    parse_legal_event,
)
from domain.money import format_money
from domain.payments import Payment, parse_payment
from domain.policy import ContactWindow, LadderStep, parse_policy
from domain.step_choice import choose_step
from policies import available_policies, load_policy
from tests.helpers.policy_files import policy_data

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def case_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "loan_id": "L-1001",
        "borrower": {
            "borrower_id": "B-77",
            "name": "王小明",
            "phone": "+8613800138000",
            "email": "wxm@example.cn",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
        },
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": "2026-11-01",
        "policy": "default",
        "portfolio": "consumer",
    }
    data.update(changes)
    return data


# -- case input ----------------------------------------------------------------
def test_valid_case_is_parsed_with_defaults() -> None:
    raw = case_data()
    del raw["policy"], raw["portfolio"], raw["borrower"]["locale"]
    case = parse_case_input(raw, now=NOW)
    assert case.loan_id == "L-1001"
    assert case.policy == "default"
    assert case.portfolio == "default"
    assert case.borrower.locale == "zh-CN"
    assert case.due == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"loan_id": "L 1001"}, "loan_id"),
        ({"loan_id": "x" * 65}, "loan_id"),
        ({"loan_id": None}, "loan_id"),
        ({"currency": "cny"}, "currency"),
        ({"overdue_amount_minor": 0}, "overdue_amount_minor"),
        ({"overdue_amount_minor": 12.5}, "overdue_amount_minor"),
        ({"overdue_amount_minor": True}, "overdue_amount_minor"),
        ({"due_date": "2026-13-01"}, "due_date"),
        ({"due_date": "2026-11-29"}, "due_date"),
        ({"policy": "Not A Policy"}, "policy"),
        ({"borrower": None}, "borrower"),
        ({"borrower": {"borrower_id": ""}}, "borrower.borrower_id"),
        ({"borrower": {"borrower_id": "B", "phone": "13800138000"}}, "borrower.phone"),
        ({"borrower": {"borrower_id": "B", "email": "not-an-email"}}, "borrower.email"),
        ({"borrower": {"borrower_id": "B", "timezone": "Mars/Base"}}, "borrower.timezone"),
        ({"borrower": {"borrower_id": "B", "locale": "fr"}}, "borrower.locale"),
    ],
)
def test_invalid_case_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_case_input(case_data(**changes), now=NOW)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def test_due_date_today_in_borrower_timezone_is_valid() -> None:
    # 2026-11-28 20:00 UTC is already 29 November in Shanghai.
    late = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert parse_case_input(case_data(due_date="2026-11-29"), now=late).due_date == "2026-11-29"


def test_non_object_input_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="case: must be a JSON object"):
        parse_case_input(["L-1"], now=NOW)


# -- money, clock, buckets -----------------------------------------------------
def test_format_money() -> None:
    assert format_money(500000, "CNY") == "CNY 5,000.00"
    assert format_money(5, "USD") == "USD 0.05"
    assert format_money(1200, "JPY") == "JPY 1,200"
    assert format_money(-150, "EUR") == "EUR -1.50"


@pytest.mark.parametrize(
    ("dpd", "expected"),
    [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M4+")],
)
def test_buckets(dpd: int, expected: str) -> None:
    assert bucket(dpd) == expected


def test_calendar_dpd_counts_in_borrower_timezone() -> None:
    # 20:00 UTC on 28 Nov is 29 Nov in Shanghai but still 28 Nov in New York.
    late = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert calendar_days_past_due(date(2026, 11, 1), late, "Asia/Shanghai") == 28
    assert calendar_days_past_due(date(2026, 11, 1), late, "America/New_York") == 27
    assert calendar_days_past_due(date(2026, 12, 1), late, "UTC") == 0


def test_real_day_clock_ticks_at_local_midnight() -> None:
    clock = case_clock(date(2026, 11, 1), "Asia/Shanghai", NOW, 86400)
    assert clock.days_past_due(NOW) == 27
    midnight = datetime(2026, 11, 29, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert clock.start_of(28) == midnight
    assert clock.days_past_due(midnight - timedelta(seconds=1)) == 27
    assert clock.days_past_due(midnight) == 28


def test_real_day_clock_ticks_at_local_midnight_after_the_clocks_change() -> None:
    """Due in New York's winter, written off in its summer: at the local midnight that
    `start_of(180)` names (04:00 UTC), the case is at DPD 180, read in UTC as the workflow
    reads its time; a second before, at 179. (Counted as elapsed days, as cases begun before
    did, it would still be 179 there for an hour.)"""
    clock = case_clock(date(2026, 12, 1), "America/New_York", NOW, 86400)
    write_off = clock.start_of(180).astimezone(UTC)
    assert write_off == datetime(2027, 5, 30, 4, 0, tzinfo=UTC)
    assert clock.days_past_due(write_off) == 180
    assert clock.days_past_due(write_off - timedelta(seconds=1)) == 179
    elapsed = case_clock(date(2026, 12, 1), "America/New_York", NOW, 86400, calendar=False)
    assert elapsed.days_past_due(write_off) == 179


def test_fast_clock_keeps_calendar_dpd_at_opening() -> None:
    clock = case_clock(date(2026, 11, 18), "Asia/Shanghai", NOW, 2)
    assert clock.days_past_due(NOW) == 10
    assert clock.days_past_due(NOW + timedelta(seconds=2)) == 11
    assert clock.start_of(61) == NOW + timedelta(seconds=(61 - 10) * 2)


# -- policies ------------------------------------------------------------------
def test_shipped_policies_load_and_demo_extends_default() -> None:
    assert {"default", "demo"} <= set(available_policies())
    default, demo = load_policy("default"), load_policy("demo")
    assert demo.ladder == default.ladder
    assert demo.day_seconds == 2 and default.day_seconds == 86400
    assert demo.contact_window is None and default.contact_window is not None
    assert default.legal_dpd == 61
    assert default.write_off_dpd == 180
    stages = [step.stage for step in default.ladder]
    assert stages == sorted(stages, key=["reminder", "phone", "field_visit", "legal"].index)


def test_unknown_policy_is_invalid() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_policy("nope")
    assert caught.value.field == "policy"


def test_repeating_steps_expand() -> None:
    policy = parse_policy(policy_data())
    assert [(s.dpd, s.channel) for s in policy.ladder] == [
        (2, "sms"),
        (10, "call"),
        (15, "call"),
        (20, "call"),
        (30, "legal"),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"write_off_dpd": 30}, "write_off_dpd"),
        ({"grace_days": 2}, "ladder"),
        ({"day_seconds": 0}, "day_seconds"),
        ({"default_timezone": "Nowhere/City"}, "default_timezone"),
        ({"contact_window": {"start": "21:00", "end": "08:00"}}, "contact_window.end"),
        ({"contact_window": {"start": "8am", "end": "21:00"}}, "contact_window.start"),
        ({"daily_caps": {"legal": 1}}, "daily_caps.legal"),
        (
            {
                "ladder": [
                    {"dpd": 5, "stage": "legal", "channel": "legal", "template": "l"},
                    {"dpd": 9, "stage": "legal", "channel": "sms", "template": "t"},
                ]
            },
            "ladder",
        ),
        (
            {
                "ladder": [
                    {"dpd": 5, "stage": "phone", "channel": "call", "template": "t"},
                    {"dpd": 9, "stage": "reminder", "channel": "sms", "template": "t"},
                ]
            },
            "ladder",
        ),
        (
            {"ladder": [{"dpd": 5, "stage": "court", "channel": "sms", "template": "t"}]},
            "ladder[0].stage",
        ),
    ],
)
def test_invalid_policy_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(policy_data(**changes))
    assert caught.value.field == field


# -- ladder choice -------------------------------------------------------------
LADDER = [
    LadderStep(3, "reminder", "sms", "a"),
    LadderStep(5, "reminder", "email", "b"),
    LadderStep(14, "phone", "call", "c"),
    LadderStep(61, "legal", "legal", "d"),
]


def test_nothing_due_before_first_step() -> None:
    choice = choose_step(LADDER, 0, 2)
    assert choice.run is None and choice.skipped == []


def test_due_step_runs() -> None:
    assert choose_step(LADDER, 0, 3).run == 0
    assert choose_step(LADDER, 1, 6).run == 1


def test_late_case_catches_up_to_the_latest_step() -> None:
    choice = choose_step(LADDER, 0, 20)
    assert choice.run == 2
    assert choice.skipped == [0, 1]
    assert choose_step(LADDER, 0, 70).run == 3


# -- contact window and caps ---------------------------------------------------
WINDOW = ContactWindow(start_minute=8 * 60, end_minute=21 * 60)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at_shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_inside_window_is_now() -> None:
    moment = at_shanghai(28, 12)
    assert next_contact_time(moment, timezone="Asia/Shanghai", window=WINDOW) == moment


def test_before_window_waits_for_opening_and_after_waits_for_next_day() -> None:
    early = next_contact_time(
        at_shanghai(28, 2),
        timezone="Asia/Shanghai",
        window=WINDOW,
    )
    assert early == at_shanghai(28, 8)
    late = next_contact_time(
        at_shanghai(28, 21, 30),
        timezone="Asia/Shanghai",
        window=WINDOW,
    )
    assert late == at_shanghai(29, 8)


def test_daily_cap_defers_to_next_day() -> None:
    moment = at_shanghai(28, 12)
    policy = replace(load_policy("default"), daily_caps={"sms": 1})
    earlier = [EarlierContact("sms", at_shanghai(28, 9))]
    deferred = check_contact(
        "sms", moment, policy=policy, timezone="Asia/Shanghai", contacts=earlier
    )
    assert deferred == Deferred(at_shanghai(29, 8), "daily_cap.sms")
    allowed = check_contact(
        "sms",
        moment,
        policy=replace(policy, daily_caps={"sms": 2}),
        timezone="Asia/Shanghai",
        contacts=earlier,
    )
    assert allowed == ALLOWED


# -- payments and case state ---------------------------------------------------
def test_a_payment_partial_full_and_over() -> None:
    """Without parts, all of the debt is principal: applied up to it, the rest overpaid."""
    partial = allocate(Parts(1000), 400, DEFAULT_ALLOCATION_ORDER)
    assert (partial.paid.total_minor, partial.remaining.total_minor, partial.overpaid_minor) == (
        400,
        600,
        0,
    )
    over = allocate(Parts(600), 1000, DEFAULT_ALLOCATION_ORDER)
    assert (over.paid.total_minor, over.remaining.total_minor, over.overpaid_minor) == (600, 0, 400)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"amount_minor": 100, "currency": "CNY"}, "payment_id"),
        ({"payment_id": "", "amount_minor": 100, "currency": "CNY"}, "payment_id"),
        ({"payment_id": "p" * 129, "amount_minor": 100, "currency": "CNY"}, "payment_id"),
        ({"payment_id": "p1", "amount_minor": 0, "currency": "CNY"}, "amount_minor"),
        ({"payment_id": "p1", "amount_minor": -5, "currency": "CNY"}, "amount_minor"),
        ({"payment_id": "p1", "amount_minor": "100", "currency": "CNY"}, "amount_minor"),
        ({"payment_id": "p1", "amount_minor": 100, "currency": "USD"}, "currency"),
        (
            {"payment_id": "p1", "amount_minor": 100, "currency": "CNY", "paid_at": "yesterday"},
            "paid_at",
        ),
        ("not an object", "payment"),
    ],
)
def test_invalid_payment_names_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_payment(raw, case_currency="CNY")
    assert caught.value.field == field


def new_state() -> CaseState:
    return CaseState(parse_case_input(case_data(), now=NOW))


def test_payments_lower_outstanding_and_close_when_paid() -> None:
    state = new_state()
    first = state.take_payment(Payment("p1", 200000, "CNY"), at=NOW)
    assert first == {
        "payment_id": "p1",
        "applied": True,
        "duplicate": False,
        "outstanding_minor": 300000,
        "overpaid_minor": 0,
        "status": "active",
        "allocation": {
            "principal_minor": 200000,
            "interest_minor": 0,
            "fees_minor": 0,
            "penalty_minor": 0,
        },
    }
    again = state.take_payment(Payment("p1", 200000, "CNY"), at=NOW)
    assert again == {**first, "duplicate": True}
    assert state.paid_minor == 200000 and len(state.payments) == 1
    last = state.take_payment(Payment("p2", 350000, "CNY"), at=NOW)
    assert last["status"] == "paid" and last["overpaid_minor"] == 50000
    assert state.stage == "closed" and state.closed and state.closed_at == NOW
    view = state.status_view(27)
    assert view["outstanding_minor"] == 0 and view["overpaid_minor"] == 50000
    assert [p["payment_id"] for p in view["payments"]] == ["p1", "p2"]
    # The applied payments and the closing are journalled for the case database.
    assert [type(fact).__name__ for fact in state.journal] == [
        "PaymentFact",
        "PaymentFact",
        "AuditFact",
    ]


def test_a_known_payment_id_with_another_body_is_a_conflict() -> None:
    state = new_state()
    state.take_payment(Payment("p1", 200000, "CNY"), at=NOW)
    with pytest.raises(InvalidInput) as caught:
        state.check_payment(Payment("p1", 999999, "CNY"))
    assert caught.value.field == "payment_id" and "different payment" in caught.value.problem
    with pytest.raises(InvalidInput):
        state.take_payment(Payment("p1", 200000, "CNY", source="bank"), at=NOW)
    assert state.paid_minor == 200000 and len(state.journal) == 1


def test_a_payment_after_write_off_is_a_recovery() -> None:
    state = new_state()
    state.close("written_off", NOW)
    answer = state.take_payment(Payment("late", 100000, "CNY"), at=NOW)
    assert answer["status"] == "written_off" and answer["outstanding_minor"] == 400000
    assert state.recovered_minor == 100000 and state.payments[0].recovery


def test_a_rejected_payment_keeps_a_storable_id() -> None:
    state = new_state()
    state.reject_payment({"payment_id": "x" * 300}, "currency: bad", record_id="r-1")
    entry = state.rejected_payments[0]
    assert entry["reason"] == "currency: bad"
    assert entry["payment_id"] is not None and len(entry["payment_id"]) <= 128
    state.reject_payment(["not", "an", "object"], "payment: must be a JSON object", "r-2")
    assert state.rejected_payments[1]["payment_id"] is None
    assert len(state.journal) == 2 and state.revision == 0


def test_holds_are_idempotent_and_released_by_id() -> None:
    state = new_state()
    hold = parse_hold({"hold_id": "h1", "kind": "dispute", "reason": "says paid"})
    assert state.place_hold(hold, at=NOW)["status"] == "on_hold"
    assert state.place_hold(hold, at=NOW) == {"hold_id": "h1", "status": "on_hold"}
    assert len(state.holds) == 1
    with pytest.raises(InvalidInput) as caught:
        state.place_hold(parse_hold({"hold_id": "h1", "kind": "complaint", "reason": "x"}), NOW)
    assert caught.value.field == "hold_id"
    with pytest.raises(InvalidInput) as caught:
        state.release_hold(HoldRelease("nope"))
    assert caught.value.field == "hold_id"
    assert state.release_hold(HoldRelease("h1")) == {"hold_id": "h1", "status": "active"}
    assert state.release_hold(HoldRelease("h1")) == {"hold_id": "h1", "status": "active"}
    with pytest.raises(InvalidInput):
        parse_hold({"hold_id": "h2", "kind": "vacation", "reason": "x"})
    state.close("paid", NOW)
    with pytest.raises(InvalidInput) as caught:
        state.check_hold(parse_hold({"hold_id": "h3", "kind": "dispute", "reason": "x"}))
    assert "closed" in caught.value.problem


def test_outcomes_need_a_known_attempt_of_that_channel() -> None:
    state = new_state()
    outcome = parse_contact_outcome({"attempt_id": "a1", "outcome": "no_answer"})
    with pytest.raises(InvalidInput) as caught:
        state.record_outcome(outcome, "call", NOW)
    assert caught.value.field == "attempt_id"
    from domain.case_records import Contact

    state.contacts.append(Contact("a1", "call", "first_call", "t", "queued", 14))
    assert state.record_outcome(outcome, "call", NOW)["recorded"] is True
    assert state.contacts[0].result == "no_answer"
    # The same message again returns the first answer; the same id with another is a conflict.
    assert state.record_outcome(outcome, "call", NOW)["recorded"] is True
    with pytest.raises(InvalidInput):
        state.record_outcome(Outcome("a1", "reached"), "call", NOW)
    assert state.contacts[0].result == "no_answer"


def test_a_disputed_call_places_a_dispute_hold() -> None:
    state = new_state()
    from domain.case_records import Contact

    state.contacts.append(Contact("a1", "call", "first_call", "t", "queued", 14))
    answer = state.record_outcome(Outcome("a1", "disputed", "never borrowed"), "call", NOW)
    assert answer["status"] == "on_hold"
    assert [hold.kind for hold in state.holds.values()] == ["dispute"]


def test_legal_events_need_a_referral() -> None:
    state = new_state()
    event = parse_legal_event({"event_id": "e1", "event": "filed"})
    with pytest.raises(InvalidInput) as caught:
        state.record_legal_event(event, at=NOW)
    assert caught.value.field == "event"


def test_the_legal_track_moves_only_in_the_allowed_order() -> None:
    from domain.case_records import Contact

    state = new_state()
    state.contacts.append(Contact("ref", "legal", "legal_referral", "t", "referred", 61))
    assert state.legal_stage == "referred"
    for number, event in enumerate(["filed", "hearing_scheduled", "hearing_scheduled", "judgment"]):
        state.record_legal_event(parse_legal_event({"event_id": f"e{number}", "event": event}), NOW)
    with pytest.raises(InvalidInput) as caught:
        state.check_legal_event(parse_legal_event({"event_id": "e9", "event": "filed"}))
    assert caught.value.field == "event" and "cannot follow judgment" in caught.value.problem
    state.record_legal_event(parse_legal_event({"event_id": "e5", "event": "closed"}), NOW)
    with pytest.raises(InvalidInput) as caught:
        state.check_legal_event(parse_legal_event({"event_id": "e6", "event": "withdrawn"}))
    assert "the file is closed" in caught.value.problem
    # Closed with the lawyers' file already closed: nothing to recall.
    state.close("paid", NOW)
    assert [fact.kind for fact in state.journal if hasattr(fact, "kind")][-1] == "closed"
