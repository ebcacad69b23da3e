"""Caps across all of a borrower's loans, at send time: three loans of one borrower share the
borrower's caps, also when two workers send for two of them in the same second."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from contracts import ContactRequest, ContactResult
from migrations.tables import ContactAttemptRow
from tests.helpers.activity_requests import case_input as loan_input
from tests.helpers.activity_requests import contact, prepare_request

BORROWER = "B-77"
LOANS = ("L-1", "L-2", "L-3")
# 10:00 in Shanghai on a Wednesday: inside every profile's window.
MORNING = "2026-11-04T02:00:00+00:00"


def case_id(loan_id: str) -> str:
    return f"run-{loan_id}"


def open_loans(activities: CollectionActivities, policy: str) -> None:
    for loan_id in LOANS:
        activities.prepare_case(
            prepare_request(
                case_id=case_id(loan_id),
                workflow_id=f"collection-{loan_id}",
                case=loan_input(loan_id=loan_id, policy=policy),
            )
        )


def attempt(loan_id: str, number: int, channel: str, at: str = MORNING) -> ContactRequest:
    return replace(
        contact(f"{loan_id}.{number:02d}", channel),
        case_id=case_id(loan_id),
        loan_id=loan_id,
        scheduled_at=at,
    )


def second_store(store: Store) -> Store:
    """Another worker's connection to the same case database."""
    url = store.engine.url.render_as_string(hide_password=False)
    return Store.from_url(url, schema=store.schema)


@pytest.fixture
def two_workers(store: Store, tmp_path: Path) -> Iterator[list[CollectionActivities]]:
    other = second_store(store)
    workers = [
        CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({})),
        CollectionActivities(other, tmp_path / "evidence", WebhookNotifier({})),
    ]
    yield workers
    other.dispose()


def send(activities: CollectionActivities, request: ContactRequest) -> ContactResult:
    if request.channel in ("sms", "email", "letter"):
        return activities.send_notice(request)
    if request.channel == "call":
        return activities.queue_call(request)
    return activities.book_field_visit(request)


def attempts(store: Store) -> list[ContactAttemptRow]:
    with store.session() as session:
        return list(session.exec(select(ContactAttemptRow)).all())


def test_two_workers_racing_for_two_loans_send_one_sms_and_defer_the_other(
    two_workers: list[CollectionActivities], store: Store
) -> None:
    open_loans(two_workers[0], "default")  # one SMS a day per borrower
    results: list[Any] = [None, None]
    start = threading.Barrier(2)

    def race(position: int) -> None:
        start.wait()
        request = attempt(LOANS[position], 1, "sms")
        results[position] = send(two_workers[position], request)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result.result for result in results) == ["deferred", "sent"]
    [deferred] = [result for result in results if result.result == "deferred"]
    assert deferred.rule == "daily_cap.sms"
    # The next morning in Shanghai, when the window opens: 08:00 local.
    assert datetime.fromisoformat(deferred.retry_at or "") == datetime.fromisoformat(
        "2026-11-05T08:00:00+08:00"
    )
    # Only the contact that went out holds a row; the deferred one is decided again later.
    assert [row.status for row in attempts(store)] == ["sent"]


def test_caps_count_every_loan_of_the_borrower_and_only_theirs(
    two_workers: list[CollectionActivities], store: Store
) -> None:
    activities = two_workers[0]
    open_loans(activities, "default")  # three call tasks a day per borrower
    calls = [send(activities, attempt(loan_id, 1, "call")) for loan_id in LOANS]
    fourth = send(activities, attempt("L-1", 2, "call"))
    # Another borrower is not held back by this one's calls.
    activities.prepare_case(
        prepare_request(
            case_id="run-other",
            workflow_id="collection-L-9",
            case=loan_input(
                loan_id="L-9", borrower=replace(loan_input().borrower, borrower_id="B-9")
            ),
        )
    )
    other = send(activities, replace(attempt("L-9", 1, "call"), case_id="run-other"))

    assert [call.result for call in calls] == ["queued"] * 3
    assert (fourth.result, fourth.rule) == ("deferred", "daily_cap.call")
    assert other.result == "queued"


def test_a_retry_of_a_reserved_contact_is_not_counted_against_itself(
    two_workers: list[CollectionActivities],
) -> None:
    activities = two_workers[0]
    open_loans(activities, "default")
    request = attempt("L-1", 1, "sms")
    assert send(activities, request).result == "sent"
    assert send(activities, request).result == "sent"  # the same attempt: its first answer


def test_us_reg_f_no_call_within_seven_days_after_a_conversation_on_any_loan(
    two_workers: list[CollectionActivities], store: Store
) -> None:
    activities = two_workers[0]
    open_loans(activities, "us-reg-f")
    first = attempt("L-1", 1, "call")
    assert send(activities, first).result == "queued"
    # The agent spoke with the borrower on loan L-1.
    with store.session() as session:
        row = session.get(ContactAttemptRow, first.attempt_id)
        assert row is not None
        row.result = "reached"
        session.add(row)
    later = send(activities, attempt("L-2", 1, "call", at="2026-11-06T02:00:00+00:00"))
    assert (later.result, later.rule) == ("deferred", "post_conversation_quiet")


def test_visits_at_most_one_a_day_across_loans(two_workers: list[CollectionActivities]) -> None:
    activities = two_workers[0]
    open_loans(activities, "cn-online-lending")
    first = send(activities, attempt("L-1", 1, "field_visit"))
    second = send(activities, attempt("L-2", 1, "field_visit"))
    assert first.result == "booked"
    assert (second.result, second.rule) == ("deferred", "daily_cap.field_visit")
