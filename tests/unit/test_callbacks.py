"""Call backs the borrower asks for: when one may be (`domain.callbacks`), and what the case does
with one (`domain.callback_track`, `domain.decide`), without a Temporal server."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.audit import AuditFact, AuditKind
from domain.callbacks import (
    CALLBACK_TEMPLATE,
    CallbackRequest,
    callback_limits,
    check_callback_time,
    parse_callback,
)
from domain.caps import EarlierContact
from domain.case import parse_case_input
from domain.case_records import Contact
from domain.case_state import CaseState
from domain.clock import CaseClock, case_clock
from domain.decide import decide
from domain.decisions import CaseSetup, Lapse, QueueCallback, Wait
from domain.errors import InvalidInput
from domain.messages import HoldRequest, Outcome
from domain.payments import Payment
from domain.step_plan import plan_callback
from policies import load_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONE = "Asia/Shanghai"
DUE = date(2026, 3, 1)
# DPD 15, 10:00 in Shanghai: inside the default policy's window (08:00-21:00).
NOW = datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI)
AT = datetime(2026, 3, 16, 14, 0, tzinfo=SHANGHAI)
DEFAULT = load_policy("default")
OPENED = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def clock_of(policy_name: str) -> CaseClock:
    return case_clock(DUE, ZONE, OPENED, load_policy(policy_name).day_seconds)


def refused(field: str, act: Any) -> str:
    with pytest.raises(InvalidInput) as refusal:
        act()
    assert refusal.value.field == field, refusal.value
    return str(refusal.value)


def facts(state: CaseState, kind: AuditKind) -> list[AuditFact]:
    return [f for f in state.journal if isinstance(f, AuditFact) and f.kind == kind]


def request(request_id: str = "cb-1", at: datetime = AT, **more: Any) -> CallbackRequest:
    return parse_callback({"request_id": request_id, "at": at.isoformat(), **more})


# -- the message ------------------------------------------------------------------------------


def test_a_request_names_the_field_it_cannot_read() -> None:
    refused("request_id", lambda: parse_callback({"at": AT.isoformat()}))
    refused("at", lambda: parse_callback({"request_id": "cb-1"}))
    refused("at", lambda: parse_callback({"request_id": "cb-1", "at": "tomorrow at two"}))
    # Without its offset a time could be read in a zone the borrower did not mean.
    message = refused(
        "at", lambda: parse_callback({"request_id": "cb-1", "at": "2026-03-16T14:00"})
    )
    assert "UTC offset" in message
    refused(
        "source",
        lambda: parse_callback({"request_id": "cb-1", "at": AT.isoformat(), "source": "s" * 65}),
    )
    refused("callback", lambda: parse_callback(["cb-1"]))


def test_the_same_moment_with_another_offset_is_the_same_request() -> None:
    in_utc = parse_callback({"request_id": "cb-1", "at": "2026-03-16T06:00:00Z"})
    assert in_utc == request() and in_utc.at.tzinfo == UTC


# -- when a call back may be ----------------------------------------------------------------


def check(
    at: datetime, contacts: tuple[EarlierContact, ...] = (), policy_name: str = "default"
) -> None:
    check_callback_time(
        at,
        now=NOW,
        policy=load_policy(policy_name),
        timezone=ZONE,
        clock=clock_of(policy_name),
        contacts=contacts,
    )


def test_a_moment_inside_the_window_and_within_the_horizon_is_allowed() -> None:
    check(AT)
    # Any time of the 14th day ahead, as a promise may fall due on it.
    check(datetime(2026, 3, 30, 20, 58, tzinfo=SHANGHAI))
    # Without a contact window (`demo`, whose days are 2 s long), any hour, 14 of its days ahead.
    night = datetime(2026, 3, 16, 23, 30, tzinfo=SHANGHAI)
    demo = load_policy("demo")
    clock = case_clock(DUE, ZONE, night, demo.day_seconds)

    def fast(at: datetime) -> None:
        check_callback_time(at, now=night, policy=demo, timezone=ZONE, clock=clock, contacts=())

    fast(night + timedelta(seconds=20))
    refused("at", lambda: fast(night + timedelta(seconds=40)))


def test_a_moment_past_or_beyond_the_horizon_is_refused_naming_at() -> None:
    assert "is not ahead" in refused("at", lambda: check(NOW - timedelta(minutes=1)))
    refused("at", lambda: check(NOW))
    # The promise horizon: 14 days in `default`.
    message = refused("at", lambda: check(datetime(2026, 3, 31, 8, 0, tzinfo=SHANGHAI)))
    assert "more than 14 days ahead (the latest is 2026-03-30 23:59" in message


def test_a_moment_outside_the_window_says_the_window_and_the_next_allowed_time() -> None:
    night = datetime(2026, 3, 16, 22, 0, tzinfo=SHANGHAI)
    message = refused("at", lambda: check(night))
    assert "outside the contact window (08:00–21:00 local)" in message
    assert "2026-03-17 08:00 (Asia/Shanghai)" in message
    # Too late in the window to start a call (the case's 30-second margin).
    refused("at", lambda: check(datetime(2026, 3, 16, 20, 59, 45, tzinfo=SHANGHAI)))


def test_a_moment_a_cap_holds_back_names_the_cap() -> None:
    calls = tuple(
        EarlierContact("call", datetime(2026, 3, 16, 9, minute, tzinfo=SHANGHAI))
        for minute in range(3)
    )
    message = refused("at", lambda: check(AT, calls))
    assert "daily_cap.call" in message and "2026-03-17 08:00" in message


def test_the_form_offers_the_days_to_the_horizon_and_the_windows_hours() -> None:
    limits = callback_limits(DEFAULT, clock=clock_of("default"), now=NOW, timezone=ZONE)
    assert (limits.earliest, limits.latest) == (date(2026, 3, 16), date(2026, 3, 30))
    assert (limits.opens, limits.last_minute, limits.closes) == ("08:00", "20:59", "21:00")
    anytime = callback_limits(load_policy("demo"), clock=clock_of("demo"), now=NOW, timezone=ZONE)
    assert anytime.hours is None and anytime.last_minute == "23:59"


# -- the case's call backs --------------------------------------------------------------------


def new_case() -> tuple[CaseState, CaseSetup]:
    case = parse_case_input(
        {
            "loan_id": "L-1",
            "borrower": {"borrower_id": "B-1", "timezone": ZONE},
            "currency": "CNY",
            "overdue_amount_minor": 500000,
            "due_date": DUE.isoformat(),
        },
        now=NOW,
    )
    return CaseState(case), CaseSetup(policy=DEFAULT, timezone=ZONE, clock=clock_of("default"))


def new_case_past_its_first_call() -> tuple[CaseState, CaseSetup]:
    """At DPD 15 with the ladder's first call made: its next step is the call at DPD 21."""
    state, setup = new_case()
    state.next_step = next(i for i, step in enumerate(DEFAULT.ladder) if step.dpd > 15)
    return state, setup


def queued(state: CaseState, setup: CaseSetup) -> str:
    """Carry out the case's decision to queue its call back, as the workflow does."""
    decision = decide(state, setup, NOW)
    assert isinstance(decision, QueueCallback)
    step = plan_callback(state, setup, decision.callback, case_id="0190-run-abcdef12")
    state.callback_queued(
        decision.callback.request_id,
        Contact(
            step.attempt_id, "call", step.template, step.scheduled_at.isoformat(), "queued", 15
        ),
        step.call_sla,
    )
    return step.attempt_id


def test_a_call_back_is_taken_once_on_record_with_its_source_and_queued_for_then() -> None:
    state, setup = new_case_past_its_first_call()
    answer = state.take_callback(request(source="self_service"), setup, NOW)
    assert answer == {"request_id": "cb-1", "accepted": True, "status": "active"}
    [fact] = facts(state, AuditKind.CALLBACK_REQUESTED)
    assert fact.ref_id == "cb-1"
    assert fact.detail == {"at": "2026-03-16T06:00:00+00:00", "source": "self_service"}

    step = plan_callback(state, setup, state.callbacks["cb-1"], case_id="0190-run-abcdef12")
    assert step.attempt_id == "L-1.abcdef12.cb1" and step.template == CALLBACK_TEMPLATE
    assert step.scheduled_at == step.due_at == AT and step.days_past_due == 15

    attempt_id = queued(state, setup)
    task = state.call_tasks[attempt_id]
    assert task.step_index is None and task.due_at == AT + timedelta(days=1)
    assert datetime.fromisoformat(state.contacts[-1].at) == AT
    assert state.callback_to_queue is None
    # Until then it is the case's next action.
    decision = decide(state, setup, NOW)
    assert isinstance(decision, Wait) and decision.until == AT
    assert decision.reason == "call: call back 1 asked for"

    # The same request again: the first answer, nothing more on record.
    journal = len(state.journal)
    assert state.take_callback(request(source="self_service"), setup, NOW) == answer
    assert len(state.journal) == journal


def test_an_agents_outcome_answers_it_and_with_none_it_expires_not_requeued() -> None:
    state, setup = new_case()
    state.take_callback(request(), setup, NOW)
    attempt_id = queued(state, setup)
    after_sla = AT + timedelta(days=1, minutes=1)
    assert decide(state, setup, after_sla) == Lapse("call", attempt_id)

    answered, _ = new_case()
    answered.take_callback(request(), setup, NOW)
    attempt_id = queued(answered, setup)
    reply = answered.record_outcome(Outcome(attempt_id, "reached"), "call", AT)
    assert reply["recorded"] is True
    assert answered.call_tasks[attempt_id].state == "done"
    assert answered.open_callback is None


def test_refusals_name_their_field_and_change_nothing() -> None:
    state, setup = new_case()
    state.take_callback(request(), setup, NOW)
    before = copy.deepcopy(state)
    conflict = refused(
        "request_id", lambda: state.take_callback(request(at=AT + timedelta(hours=1)), setup, NOW)
    )
    assert "already used" in conflict
    # One call back at a time.
    message = refused("request_id", lambda: state.take_callback(request("cb-2"), setup, NOW))
    assert "already asked for" in message
    refused(
        "at", lambda: state.take_callback(request("cb-3", NOW - timedelta(hours=1)), setup, NOW)
    )
    assert state == before

    held, _ = new_case()
    held.place_hold(HoldRequest("h-1", "cease_contact", "asked to stop"), NOW)
    assert "on hold (cease_contact)" in refused(
        "request_id", lambda: held.take_callback(request(), setup, NOW)
    )
    assert held.callbacks == {}

    paid, _ = new_case()
    paid.take_payment(Payment("p-1", 500000, "CNY"), NOW)
    paid.close("paid", NOW)
    assert "closed" in refused("request_id", lambda: paid.take_callback(request(), setup, NOW))

    wrong, _ = new_case()
    wrong.phone_unusable = True
    refused("request_id", lambda: wrong.check_callback(request(), setup, NOW))


def test_a_call_back_the_borrowers_other_loans_defer_is_on_record_and_frees_the_next() -> None:
    state, setup = new_case()
    state.take_callback(request(), setup, NOW)
    decision = decide(state, setup, NOW)
    assert isinstance(decision, QueueCallback)
    state.callback_not_queued("cb-1", "L-1.abcdef12.cb1", "deferred", "daily_cap.call")
    [fact] = facts(state, AuditKind.CONTACT_NOT_SENT)
    assert fact.detail == {"why": "deferred", "rule": "daily_cap.call"}
    assert state.open_callback is None and not state.call_tasks
    assert state.take_callback(request("cb-2"), setup, NOW)["accepted"] is True


def test_a_call_tasks_state_carries_over_with_its_call_backs() -> None:
    state, setup = new_case()
    state.take_callback(request(), setup, NOW)
    attempt_id = queued(state, setup)
    restored = CaseState.restored(state.carried())
    assert restored.callbacks == state.callbacks
    assert restored.call_tasks[attempt_id].step_index is None
