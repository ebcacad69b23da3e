"""The desk's read models on SQLite and PostgreSQL: the agent's queue and claims, the field
collectors' visits, the supervisor's figures, each read from real rows at fixed moments."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from activities.store import Store
from domain.audit import AuditKind
from domain.desk_claims import Claim, ClaimRefused, take
from domain.desk_queue import QueueEntry
from tests.helpers.desk_rows import (
    DUE_M2,
    NEW_YORK,
    NOW,
    add,
    add_call_task,
    add_case,
    add_event,
    add_settlement_request,
    add_user,
    add_visit,
    assign,
    contact,
)
from web.queue_reading import claim_rows, read_queue, release_claim, save_claim, take_claim
from web.settlement_requests import pending_settlements
from web.supervisor_reading import supervisor_figures
from web.visit_reading import visits_for

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
DUE = NOW + 4 * HOUR


def ids(entries: list[QueueEntry]) -> list[str]:
    return [entry.call.attempt_id for entry in entries]


def test_the_queue_orders_and_splits_the_open_call_tasks(store: Store) -> None:
    small = add_case(store, "L-small", outstanding_minor=10_000)
    large = add_case(store, "L-large", outstanding_minor=90_000)
    later_bucket = add_case(store, "L-m2", outstanding_minor=5_000, due_date=DUE_M2)
    broken = add_case(store, "L-broken", outstanding_minor=1_000)
    night = add_case(store, "L-night", timezone=NEW_YORK)
    for case in (small, large, later_bucket, broken, night):
        add_call_task(store, case, f"call-{case.loan_id}", due_at=DUE, created_at=NOW - HOUR)
    add_event(store, broken, AuditKind.PROMISE_BROKEN, "p-1", NOW - 2 * HOUR)
    done = add_case(store, "L-done")
    add_call_task(store, done, "call-done", due_at=DUE, created_at=NOW - HOUR)
    with store.session() as session:
        closed = session.get(type(done), done.case_id)
        assert closed is not None
        closed.closed_at = "2026-12-02T00:00:00.000000+00:00"
        session.add(closed)

    queue = read_queue(store, user="alice", now=NOW)

    # Broken promise first, then the later bucket, then the larger amount; the closed case's
    # task is not queued; the borrower in New York is asleep (23:00 there).
    assert ids(queue.callable_now) == ["call-L-broken", "call-L-m2", "call-L-large", "call-L-small"]
    assert queue.callable_now[1].call.bucket == "M2"
    assert ids(queue.later) == ["call-L-night"]
    assert queue.later[0].held_by_rule == "contact_window"
    assert queue.held == []


def test_the_agents_own_case_comes_first(store: Store) -> None:
    large = add_case(store, "L-large", outstanding_minor=90_000)
    mine = add_case(store, "L-mine", outstanding_minor=1_000)
    for case in (large, mine):
        add_call_task(store, case, f"call-{case.loan_id}", due_at=DUE, created_at=NOW - HOUR)
    assign(store, "L-mine", "bob", team="agent:M1", at=NOW - 3 * HOUR)
    assign(store, "L-mine", "alice", team="agent:M1", at=NOW - 2 * HOUR)  # reassigned
    assign(store, "L-mine", "fay", team="field:M1", at=NOW - HOUR)  # not the phone team's

    assert ids(read_queue(store, user="alice", now=NOW).callable_now) == [
        "call-L-mine",
        "call-L-large",
    ]
    assert ids(read_queue(store, user="bob", now=NOW).callable_now) == [
        "call-L-large",
        "call-L-mine",
    ]


def test_a_case_with_two_open_call_tasks_is_listed_once_by_its_latest(store: Store) -> None:
    case = add_case(store, "L-two-tasks")
    add_call_task(store, case, "call-new", due_at=DUE + HOUR, created_at=NOW - HOUR)
    add_call_task(store, case, "call-old", due_at=DUE, created_at=NOW - 3 * HOUR)
    other = add_case(store, "L-other", outstanding_minor=1_000)
    add_call_task(store, other, "call-other", due_at=DUE, created_at=NOW - 2 * HOUR)

    queue = read_queue(store, user="alice", now=NOW)

    assert ids(queue.callable_now) == ["call-new", "call-other"]
    assert [entry.call.loan_id for entry in queue.callable_now] == ["L-two-tasks", "L-other"]


def test_the_caps_count_the_borrowers_other_contacts_but_not_the_task_itself(
    store: Store,
) -> None:
    # The default policy allows 3 calls a local day. Borrower one: two earlier calls today and
    # this task's own (3, allowed). Borrower two: three earlier calls on another loan.
    one = add_case(store, "L-one")
    add(store, *(contact(one, f"one-{n}", NOW - (n + 2) * HOUR) for n in range(2)))
    add_call_task(store, one, "call-one", due_at=DUE, created_at=NOW - HOUR)
    two_other = add_case(store, "L-two-other", borrower_id="B-two")
    add(store, *(contact(two_other, f"two-{n}", NOW - (n + 2) * HOUR) for n in range(3)))
    two = add_case(store, "L-two", borrower_id="B-two")
    add_call_task(store, two, "call-two", due_at=DUE, created_at=NOW - HOUR)

    queue = read_queue(store, user="alice", now=NOW)

    assert ids(queue.callable_now) == ["call-one"]
    assert ids(queue.later) == ["call-two"]
    assert queue.later[0].held_by_rule == "daily_cap.call"


def test_a_claim_by_another_agent_holds_all_the_borrowers_tasks(store: Store) -> None:
    first = add_case(store, "L-first", borrower_id="B-shared")
    second = add_case(store, "L-second", borrower_id="B-shared")
    free = add_case(store, "L-free")
    for case in (first, second, free):
        add_call_task(store, case, f"call-{case.loan_id}", due_at=DUE, created_at=NOW - HOUR)
    taken = take_claim(
        store,
        user="bob",
        borrower_key="B-shared",
        attempt_id="call-L-first",
        loan_id="L-first",
        now=NOW,
    )
    assert isinstance(taken, Claim)

    for_alice = read_queue(store, user="alice", now=NOW)
    assert ids(for_alice.held) == ["call-L-first", "call-L-second"]
    assert {entry.claim.holder for entry in for_alice.held if entry.claim} == {"bob"}
    assert ids(for_alice.callable_now) == ["call-L-free"]
    refused = take_claim(
        store,
        user="alice",
        borrower_key="B-shared",
        attempt_id="call-L-second",
        loan_id="L-second",
        now=NOW + HOUR / 4 - timedelta(seconds=1),
    )
    assert isinstance(refused, ClaimRefused) and refused.holder == "bob"
    # Bob sees his own claim with his tasks; once it expires, or he releases it, alice may take.
    assert len(read_queue(store, user="bob", now=NOW).callable_now) == 3
    assert ids(read_queue(store, user="alice", now=NOW + HOUR / 4).held) == []
    assert release_claim(store, borrower_key="B-shared", user="bob", now=NOW + 60 * SECOND)
    assert not release_claim(store, borrower_key="B-shared", user="alice", now=NOW)
    again = take_claim(
        store,
        user="alice",
        borrower_key="B-shared",
        attempt_id="call-L-second",
        loan_id="L-second",
        now=NOW + 2 * 60 * SECOND,
    )
    assert isinstance(again, Claim) and [c.holder for c in claim_rows(store)] == ["alice"]


def test_two_agents_taking_one_borrower_at_once_one_wins(store: Store) -> None:
    results: dict[str, bool] = {}
    start = threading.Barrier(2)

    def claim_as(user: str) -> None:
        # Both decided from the same empty table: the store must pick one of them.
        claim = take(user, "B-race", f"call-{user}", [], NOW)
        assert isinstance(claim, Claim)
        start.wait()
        results[user] = save_claim(store, claim, loan_id="L-race")

    threads = [threading.Thread(target=claim_as, args=(user,)) for user in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results.values()) == [False, True]
    winner = next(user for user, won in results.items() if won)
    assert [(c.holder, c.attempt_id) for c in claim_rows(store)] == [(winner, f"call-{winner}")]


def test_visits_of_the_day_for_the_collector_and_their_partner(store: Store) -> None:
    for name in ("fay", "gus", "hal"):
        add_user(store, name, "field")
    add_user(store, "alice", "agent")
    case = add_case(store, "L-visit", stage="field_visit")
    assign(store, "L-visit", "alice", team="agent:M1", at=NOW - 5 * HOUR)
    assign(store, "L-visit", "fay", team="field:M1", at=NOW - 4 * HOUR)
    # 09:30 on 4 December in Shanghai, though still 3 December in UTC.
    add_visit(store, case, "visit-1", at=datetime(2026, 12, 4, 1, 30, tzinfo=UTC))
    add_visit(store, case, "visit-next-day", at=datetime(2026, 12, 5, 1, 30, tzinfo=UTC))
    day = datetime(2026, 12, 4).date()

    for_fay = visits_for(store, user="fay", day=day, now=NOW)
    assert [card.visit_id for card in for_fay] == ["visit-1"]
    card = for_fay[0]
    assert (card.collector, card.partner) == ("fay", "gus")
    assert (card.scheduled_for.hour, card.scheduled_for.minute) == (9, 30)
    assert (card.days_past_due, card.bucket, card.stage) == (13, "M1", "field_visit")
    assert card.borrower_address == "Address of B-L-visit"
    assert [c.visit_id for c in visits_for(store, user="gus", day=day, now=NOW)] == ["visit-1"]
    assert visits_for(store, user="hal", day=day, now=NOW) == []
    assert visits_for(store, user="alice", day=day, now=NOW) == []
    assert visits_for(store, user="fay", day=day.replace(day=3), now=NOW) == []


def test_supervisor_figures_per_agent_and_bucket_within_the_period(store: Store) -> None:
    since = NOW - 8 * HOUR
    add_user(store, "alice", "agent")
    add_user(store, "bob", "agent")
    add_user(store, "sue", "supervisor")
    m1 = add_case(store, "L-m1")
    m2 = add_case(store, "L-m2", due_date=DUE_M2)
    add_call_task(store, m1, "call-m1-a", due_at=NOW - 2 * HOUR, created_at=NOW - 9 * HOUR)
    add_call_task(store, m1, "call-m1-b", due_at=NOW + HOUR, created_at=NOW - HOUR)
    add_call_task(store, m2, "call-m2", due_at=NOW + 2 * HOUR, created_at=NOW - HOUR)
    assign(store, "L-m1", "alice", team="agent:M1", at=NOW - 6 * HOUR)
    outcome = AuditKind.CONTACT_OUTCOME
    add_event(store, m1, outcome, "c1", NOW - 5 * HOUR, outcome="reached", source="alice")
    add_event(store, m1, outcome, "c2", NOW - 4 * HOUR, outcome="no_answer", source="alice")
    add_event(store, m2, outcome, "c3", NOW - 3 * HOUR, outcome="promised", source="bob")
    add_event(store, m2, outcome, "c-old", since - HOUR, outcome="reached", source="bob")
    add_event(store, m2, outcome, "c-after", NOW, outcome="reached", source="bob")
    add_event(store, m2, outcome, "c-api", NOW - HOUR, outcome="reached")  # not by the desk
    add_event(store, m2, AuditKind.PROMISE_MADE, "p1", since - HOUR, source="bob")
    add_event(store, m2, AuditKind.PROMISE_KEPT, "p1", NOW - HOUR)
    add_event(store, m2, AuditKind.PROMISE_MADE, "p2", NOW - 3 * HOUR, source="bob")
    add_event(store, m1, AuditKind.CALL_EXPIRED, "x-before", NOW - 7 * HOUR)  # nobody yet
    add_event(store, m1, AuditKind.CALL_EXPIRED, "x-alice", NOW - 2 * HOUR)
    add_settlement_request(store, "s-new", "L-m1", at=NOW - HOUR)
    add_settlement_request(store, "s-old", "L-m2", at=NOW - 3 * HOUR)
    add_settlement_request(store, "s-done", "L-m2", at=NOW - 5 * HOUR, decision="approved")

    figures = supervisor_figures(store, now=NOW, since=since)

    by_agent = {
        a.agent: (
            a.calls,
            a.right_party_contacts,
            a.promises_taken,
            a.promises_kept,
            a.sla_breaches,
        )
        for a in figures.agents
    }
    assert by_agent == {
        "alice": (2, 1, 0, 0, 1),
        "bob": (1, 1, 1, 1, 0),
        "unassigned": (0, 0, 0, 0, 1),
    }
    by_bucket = {
        b.bucket: (b.open_calls, b.oldest_due_at, b.oldest_overdue_by) for b in figures.buckets
    }
    assert by_bucket["M1"] == (2, NOW - 2 * HOUR, 2 * HOUR)
    assert by_bucket["M2"] == (1, NOW + 2 * HOUR, timedelta(0))
    assert by_bucket["M0"] == (0, None, timedelta(0))
    assert [s.request_id for s in pending_settlements(store)] == ["s-old", "s-new"]
