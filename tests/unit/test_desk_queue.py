"""The agent's queue: the ordering rule, calls held back by the contact window and caps (with
the moment they become callable), and borrowers claimed by another agent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.caps import EarlierContact
from domain.desk_claims import Claim
from domain.desk_queue import QueuedCall, desk_queue
from domain.policy import ContactWindow
from policies import load_policy

# 08:00-21:00 in the borrower's zone, at most 2 calls a local day, no other caps.
POLICY = replace(
    load_policy("default"),
    contact_window=ContactWindow(8 * 60, 21 * 60),
    daily_caps={"call": 2},
    rolling_caps_7d={},
    connected_calls_per_day=None,
    unanswered_calls_per_number_per_day=None,
    call_quiet_days_after_conversation=0,
)
SHANGHAI = "Asia/Shanghai"
# 12:00 in Shanghai (UTC+8) on Wednesday 2026-03-04.
NOON = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)


def call(loan_id: str, **changes: Any) -> QueuedCall:
    fields: dict[str, Any] = {
        "loan_id": loan_id,
        "attempt_id": f"{loan_id}-call-1",
        "borrower_key": f"B-{loan_id}",
        "bucket": "M1",
        "outstanding_minor": 100_000,
        "currency": "CNY",
        "due_at": NOON + timedelta(hours=4),
        "broken_promises": 0,
        "assignee": None,
        "timezone": SHANGHAI,
        "policy": POLICY,
    }
    return QueuedCall(**(fields | changes))


def order(calls: list[QueuedCall], user: str = "alice") -> list[str]:
    return [
        entry.call.loan_id
        for entry in desk_queue(calls, user=user, claims=[], now=NOON).callable_now
    ]


def test_the_ordering_rule_applies_each_key_in_turn() -> None:
    calls = [
        call("L-9"),
        call("L-8", due_at=NOON + timedelta(hours=1)),  # earlier deadline
        call("L-7", outstanding_minor=200_000),  # larger
        call("L-6", bucket="M3"),  # later bucket
        call("L-5", bucket="M2", outstanding_minor=900_000),
        call("L-4", broken_promises=1),  # a broken promise beats the bucket
        call("L-3", assignee="alice", bucket="M0"),  # her own case beats everything
        call("L-2", assignee="bob", broken_promises=2),  # someone else's case is not hers
        call("L-1"),  # same as L-9 but for the loan id
    ]
    assert order(calls) == ["L-3", "L-2", "L-4", "L-6", "L-5", "L-7", "L-8", "L-1", "L-9"]
    # Bob sees his own case first.
    assert order(calls, user="bob")[0] == "L-2"


def test_amounts_in_different_currencies_are_not_compared() -> None:
    calls = [call("L-1", currency="USD", outstanding_minor=900_000), call("L-2")]
    assert order(calls) == ["L-2", "L-1"]  # CNY before USD, whatever the figures


def test_a_borrower_outside_their_window_is_later_with_the_window_opening() -> None:
    # 22:30 in Shanghai: the window opens at 08:00 the next morning, 00:00 UTC.
    late = NOON + timedelta(hours=10, minutes=30)
    queue = desk_queue(
        [call("L-1"), call("L-2", timezone="Europe/Berlin")], user="a", claims=[], now=late
    )
    assert [entry.call.loan_id for entry in queue.callable_now] == ["L-2"]  # 15:30 in Berlin
    (entry,) = queue.later
    assert entry.call.loan_id == "L-1"
    assert entry.held_by_rule == "contact_window"
    assert entry.callable_at == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)


def test_a_borrower_at_their_daily_cap_is_later_until_the_next_local_morning() -> None:
    today = [EarlierContact("call", NOON - timedelta(hours=h), connected=False) for h in (1, 2)]
    queue = desk_queue([call("L-1", earlier_contacts=tuple(today))], user="a", claims=[], now=NOON)
    (entry,) = queue.later
    assert entry.held_by_rule == "daily_cap.call"
    # Not at midnight, when the window is still shut: at 08:00 local the next day.
    assert entry.callable_at == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)


def test_a_borrower_claimed_by_another_agent_is_held_and_ones_own_claim_is_not() -> None:
    claims = [
        Claim(
            "B-L-1", "bob", "L-1-call-1", NOON - timedelta(minutes=5), NOON + timedelta(minutes=10)
        ),
        Claim(
            "B-L-2",
            "alice",
            "L-2-call-1",
            NOON - timedelta(minutes=5),
            NOON + timedelta(minutes=10),
        ),
        # Bob's claim on L-3's borrower has expired: free again.
        Claim(
            "B-L-3", "bob", "L-3-call-1", NOON - timedelta(minutes=20), NOON - timedelta(minutes=5)
        ),
    ]
    queue = desk_queue(
        [call("L-1"), call("L-2"), call("L-3")], user="alice", claims=claims, now=NOON
    )
    assert [entry.call.loan_id for entry in queue.held] == ["L-1"]
    assert queue.held[0].claim is not None and queue.held[0].claim.holder == "bob"
    assert [entry.call.loan_id for entry in queue.callable_now] == ["L-2", "L-3"]
    # Her own claim is shown with the task; the expired one is not.
    assert [entry.claim for entry in queue.callable_now] == [claims[1], None]


def test_a_claim_covers_every_task_of_the_borrower() -> None:
    claims = [Claim("B-1", "bob", "L-1-call-1", NOON, NOON + timedelta(minutes=15))]
    calls = [call("L-1", borrower_key="B-1"), call("L-2", borrower_key="B-1")]
    queue = desk_queue(calls, user="alice", claims=claims, now=NOON)
    assert [entry.call.loan_id for entry in queue.held] == ["L-1", "L-2"]
    assert queue.callable_now == [] and queue.later == []
