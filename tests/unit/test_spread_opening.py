"""`[contact_window] spread_minutes`: contacts that waited for the window go out over its first
minutes, each case at a moment of its own, instead of all at the opening (docs/capacity.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.converter import DataConverter

from domain.case_state import CaseState
from domain.contact_rules import spread_opening
from domain.decide import decide
from domain.decisions import CaseSetup, RunStep, Wait
from domain.errors import InvalidInput
from domain.policy import ContactWindow, DayHours, parse_policy
from domain.timing import SEND_MARGIN
from policies import load_policy
from tests.helpers.domain_cases import shanghai_case
from tests.helpers.policy_files import policy_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = date(2026, 3, 1)
OPENING = datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 3, 4, 23, 0, tzinfo=SHANGHAI)  # DPD 3's SMS due, the window closed
SPREAD = ContactWindow(start_minute=8 * 60, end_minute=21 * 60, spread_minutes=60)


def spread_case(loan_id: str, spread_minutes: int = 60) -> tuple[CaseState, CaseSetup]:
    default = load_policy("default")
    assert default.contact_window is not None
    window = replace(default.contact_window, spread_minutes=spread_minutes)
    policy = replace(default, contact_window=window)
    opened = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    return shanghai_case(policy, due=DUE, opened=opened, loan_id=loan_id)


def waits_until(loan_id: str, now: datetime = NIGHT, spread_minutes: int = 60) -> datetime:
    state, setup = spread_case(loan_id, spread_minutes)
    decision = decide(state, setup, now)
    assert isinstance(decision, Wait), decision
    return decision.until


def test_without_a_spread_every_case_waits_for_the_opening_itself() -> None:
    assert {waits_until(f"L-{n}", spread_minutes=0) for n in range(50)} == {OPENING}


def test_with_a_spread_the_cases_go_out_over_its_minutes_each_at_its_own_moment() -> None:
    moments = [waits_until(f"L-{n}") for n in range(300)]
    assert all(OPENING <= moment < OPENING + timedelta(minutes=60) for moment in moments)
    # 300 cases over 60 minutes: most minutes have some, none has a crowd.
    minutes = {moment.minute for moment in moments}
    assert len(minutes) >= 50
    assert max(moments.count(moment) for moment in moments) <= 3


def test_a_case_keeps_its_moment_in_every_process_and_every_day() -> None:
    """A stable hash: the workflow and a replay of it on another worker decide alike."""
    first = waits_until("L-42")
    assert waits_until("L-42") == first
    next_day = waits_until("L-42", now=NIGHT + timedelta(days=1))
    assert next_day - first == timedelta(days=1)
    assert (
        first - OPENING
        == spread_opening(
            OPENING, key="L-42", timezone="Asia/Shanghai", window=SPREAD, margin=SEND_MARGIN
        )
        - OPENING
    )


def test_the_case_runs_its_step_at_its_moment() -> None:
    """The spread chooses when a sleeping case wakes; a case woken inside the window before
    its moment (by a message) finds the window open and goes out then."""
    state, setup = spread_case("L-7")
    moment = waits_until("L-7")
    assert moment > OPENING  # this loan's moment is not the opening itself
    before_opening = decide(state, setup, OPENING - timedelta(minutes=1))
    assert isinstance(before_opening, Wait) and before_opening.until == moment
    decision = decide(state, setup, moment)
    assert isinstance(decision, RunStep) and decision.step.channel == "sms"
    assert isinstance(decide(state, setup, OPENING + timedelta(minutes=1)), RunStep)


def test_a_step_due_inside_the_window_is_not_held_back() -> None:
    state, setup = spread_case("L-7")
    morning = datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)
    assert isinstance(decide(state, setup, morning), RunStep)


def test_a_short_day_keeps_every_moment_before_its_close() -> None:
    """A weekday's own hours may be shorter than the spread: no moment passes the close
    (less the margin a contact needs to end inside the window)."""
    short_thursday = replace(
        SPREAD, weekdays=(DayHours(weekday=3, start_minute=480, end_minute=490),)
    )
    thursday_opening = datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI)
    assert thursday_opening.weekday() == 3
    latest = thursday_opening + timedelta(minutes=10) - SEND_MARGIN
    moments = [
        spread_opening(
            thursday_opening,
            key=f"L-{n}",
            timezone="Asia/Shanghai",
            window=short_thursday,
            margin=SEND_MARGIN,
        )
        for n in range(200)
    ]
    assert all(thursday_opening <= moment <= latest for moment in moments)
    assert latest in moments  # the later ones wait at the last moment that still leaves time


def test_the_policy_file_sets_it_and_a_bad_value_is_named() -> None:
    window = {"start": "08:00", "end": "21:00", "spread_minutes": 45}
    policy = parse_policy(policy_data(contact_window=window))
    assert policy.contact_window is not None and policy.contact_window.spread_minutes == 45
    for bad in (-1, "sixty", 13 * 60):
        with pytest.raises(InvalidInput) as caught:
            parse_policy(policy_data(contact_window=window | {"spread_minutes": bad}))
        assert caught.value.field == "contact_window.spread_minutes"


def test_a_policy_recorded_before_the_spread_existed_decodes_without_one() -> None:
    """A running case's policy is in its history (the preparation's result): one recorded
    before `spread_minutes` existed decodes to 0, and the case decides as it did."""
    converter = DataConverter.default.payload_converter
    recorded: dict[str, Any] = {"start_minute": 480, "end_minute": 1260}
    [payload] = converter.to_payloads([recorded])
    [window] = converter.from_payloads([payload], [ContactWindow])
    assert window == ContactWindow(start_minute=480, end_minute=1260, spread_minutes=0)
