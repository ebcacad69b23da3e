"""What counts against a cap, stated once (`domain.caps.counts_against_caps`): the count over
all of a borrower's loans at send time (`activities.contact_caps`) applies it, and so should
the case's own count (`domain.decide`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.contact_caps import borrower_contacts
from activities.outbox import case_result
from domain.caps import counts_against_caps
from domain.case_records import Contact
from domain.contact_counting import earlier_contacts
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, utc_iso
from tests.helpers.databases import sqlite_store

AT = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
# Every status an outbox row can have, and whether the contact counts against the caps.
COUNTED_BY_STATUS = {
    "pending": True,
    "unconfirmed": True,
    "sent": True,
    "queued": True,
    "booked": True,
    "referred": True,
    # The provider refused it for good: it never reached the borrower.
    "failed": False,
    "skipped": False,
    "blocked": False,
}


@pytest.mark.parametrize(
    ("result", "counted"),
    [
        ("skipped_no_contact", False),
        ("blocked", False),
        ("sent", True),
        ("unconfirmed", True),
        ("failed", False),
        ("queued", True),
        ("no_answer", True),
        ("reached", True),
        (None, True),
    ],
)
def test_only_contacts_that_never_left_count_against_no_cap(
    result: str | None, counted: bool
) -> None:
    assert counts_against_caps(result) is counted


RESULTS = ("skipped_no_contact", "blocked", "failed", "sent", "unconfirmed", "queued", "reached")


def _contacts() -> list[Contact]:
    return [
        Contact(f"run-1.{n:02d}", "sms", "reminder", AT.isoformat(), result, 30)
        for n, result in enumerate(RESULTS)
    ]


def test_the_case_counts_its_own_contacts_by_the_same_rule() -> None:
    counted = earlier_contacts(_contacts())
    assert len(counted) == sum(counts_against_caps(result) for result in RESULTS) == 4


def test_a_case_begun_before_the_rule_was_shared_still_counts_a_refused_send() -> None:
    # Its history was decided that way: replaying it must decide the same.
    counted = earlier_contacts(_contacts(), refused_sends_count=True)
    assert len(counted) == 5


@pytest.mark.parametrize(("status", "counted"), sorted(COUNTED_BY_STATUS.items()))
def test_an_outbox_row_counts_as_its_case_records_it(status: str, counted: bool) -> None:
    row = _attempt(status, 0)
    assert counts_against_caps(case_result(row)) is counted


def test_the_borrowers_contacts_across_loans_follow_the_rule(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    with store.session() as session:
        session.add(BorrowerRow(borrower_id="B-77", phone="+8613800138000", updated_at=utc_iso()))
        session.add(_case())
        session.add_all(_attempt(status, n) for n, status in enumerate(COUNTED_BY_STATUS))
    with store.reading() as session:
        contacts = borrower_contacts(session, "B-77", since=AT - timedelta(days=1))
    counted = sum(COUNTED_BY_STATUS.values())
    assert len(contacts) == counted
    store.dispose()


def _case() -> CaseRow:
    return CaseRow(
        case_id="run-1",
        workflow_id="collection-L-1",
        loan_id="L-1",
        borrower_id="B-77",
        currency="CNY",
        overdue_amount_minor=100,
        due_date="2026-10-01",
        policy="default",
        portfolio="consumer",
        timezone="Asia/Shanghai",
        stage="reminder",
        status="active",
        outstanding_minor=100,
        opened_at=utc_iso(AT - timedelta(days=30)),
        updated_at=utc_iso(AT),
    )


def _attempt(status: str, number: int) -> ContactAttemptRow:
    return ContactAttemptRow(
        attempt_id=f"run-1.{number:02d}",
        case_id="run-1",
        loan_id="L-1",
        channel="sms",
        template="reminder",
        recipient="+8613800138000",
        status=status,
        created_at=utc_iso(AT),
    )
