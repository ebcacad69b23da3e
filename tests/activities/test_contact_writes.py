"""How few times a contact writes to the case database, and that nothing is lost for it.

SQLite has one writer at a time: under a storm of cases every commit queues behind the others,
so a first notice writes twice (its outbox row, with the case's records the request carries and
its send counted; then what became of it) and a call task once. On real SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.portal_links import LinkKeys
from activities.store import Store
from contracts import CaseEvent, CaseRecords, ContactRequest
from migrations.tables import (
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    PaymentRow,
    WorkItemRow,
)
from tests.helpers.activity_requests import (
    CASE_ID,
    LOAN_ID,
    borrower,
    case_input,
    contact,
    payment,
    prepare_request,
)
from tests.helpers.activity_requests import snapshot as case_snapshot
from tests.helpers.databases import rows


@pytest.fixture
def outbox(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})
    activities = CollectionActivities(store, tmp_path / "evidence", notifier)
    activities.prepare_case(prepare_request())
    # The portal links' secret, made once per database on the first link: not a send's write.
    LinkKeys.from_env(store)
    yield activities
    notifier.close()


def records(*events: str, payments: tuple[str, ...] = ()) -> CaseRecords:
    """A batch as a step's request carries it: payments, audit events and the case's position."""
    return CaseRecords(
        CASE_ID,
        LOAN_ID,
        payments=[payment(record_id) for record_id in payments],
        events=[
            CaseEvent(
                case_id=CASE_ID,
                event_key=key,
                loan_id=LOAN_ID,
                kind="note",
                at="2026-11-06T03:00:00+00:00",
            )
            for key in events
        ],
        snapshot=case_snapshot(),
    )


def carrying(request: ContactRequest, batch: CaseRecords) -> ContactRequest:
    return replace(request, records=batch)


@contextmanager
def listening(store: Store, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """`listener` on the store's writing engine's event `name` while the block runs."""
    event.listen(store.engine, name, listener)
    try:
        yield
    finally:
        event.remove(store.engine, name, listener)


@contextmanager
def commits_counted(store: Store) -> Iterator[list[str]]:
    """Every transaction committed on the store's writing engine while the block runs."""
    committed: list[str] = []
    with listening(store, "commit", lambda _connection: committed.append("commit")):
        yield committed


def test_a_first_notice_writes_its_row_records_and_send_at_once_then_its_outcome(
    outbox: CollectionActivities, store: Store
) -> None:
    with commits_counted(store) as committed:
        result = outbox.send_notice(carrying(contact("n-1"), records("e-1", payments=("r-1",))))

    assert result.result == "sent"
    assert len(committed) == 2
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.send_tries) == ("sent", 1)
    assert attempt.send_started_at is not None and attempt.sent_at is not None
    assert [row.record_id for row in rows(store, PaymentRow)] == ["r-1"]
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]
    [case] = rows(store, CaseRow)
    assert (case.days_past_due, case.paid_minor) == (6, 100_000)


def test_a_try_after_the_first_stores_the_records_and_sends_nothing_again(
    outbox: CollectionActivities, store: Store
) -> None:
    request = carrying(contact("n-1"), records("e-1"))
    first = outbox.send_notice(request)
    again = outbox.send_notice(carrying(contact("n-1"), records("e-1", "e-2")))

    assert again == first
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.send_tries) == ("sent", 1)
    assert sorted(row.event_key for row in rows(store, CaseEventRow)) == ["e-1", "e-2"]


def test_a_notice_deferred_by_the_caps_still_writes_the_records_it_carries(
    outbox: CollectionActivities, store: Store
) -> None:
    # The default policy sends one SMS a day: the second one that day is deferred.
    assert outbox.send_notice(contact("n-1")).result == "sent"

    deferred = outbox.send_notice(carrying(contact("n-2"), records("e-1", payments=("r-1",))))

    assert deferred.result == "deferred"
    assert [row.attempt_id for row in rows(store, ContactAttemptRow)] == ["n-1"]
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]
    assert [row.record_id for row in rows(store, PaymentRow)] == ["r-1"]


@contextmanager
def committed_statements(store: Store, table: str = "") -> Iterator[list[str]]:
    """The kind of every statement (on `table`, if named) of the transactions the store's
    writing engine commits: not those of reads, which end without a commit (on PostgreSQL
    they share the engine)."""
    committed: list[str] = []
    pending: dict[int, list[str]] = {}

    def keep(connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not table or f" {table} " in f" {statement} ".replace("\n", " "):
            pending.setdefault(id(connection), []).append(statement.split()[0])

    def commit(connection: object) -> None:
        committed.extend(pending.pop(id(connection), []))

    def rollback(connection: object) -> None:
        pending.pop(id(connection), None)

    with (
        listening(store, "before_cursor_execute", keep),
        listening(store, "commit", commit),
        listening(store, "rollback", rollback),
    ):
        yield committed


def test_a_batch_asks_once_which_of_its_records_are_stored_and_adds_each_new_one_once(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.store_case_records(records("e-1", payments=("r-1",)))
    # Stored ones, new ones and a key twice in one batch (a batch given back and sent again).
    batch = records("e-1", "e-2", "e-3", "e-3", "e-4", payments=("r-1", "r-2", "r-2"))

    with (
        committed_statements(store, "case_events") as on_events,
        committed_statements(store, "payments") as on_payments,
    ):
        result = outbox.send_notice(carrying(contact("n-1"), batch))

    assert result.result == "sent"
    assert sorted(row.event_key for row in rows(store, CaseEventRow)) == [
        "e-1",
        "e-2",
        "e-3",
        "e-4",
    ]
    assert sorted(row.record_id for row in rows(store, PaymentRow)) == ["r-1", "r-2"]
    # One question per kind of record, one insert of the new ones: not one of each per record.
    assert on_events == ["SELECT", "INSERT"]
    assert on_payments == ["SELECT", "INSERT"]


def test_a_batch_that_conflicts_is_stored_part_by_part_and_the_notice_still_sent(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.store_payment(payment("r-1"))
    # The same payment under another record id: the one transaction fails, nothing is lost.
    batch = replace(
        records("e-1", payments=("r-0",)),
        payments=[payment("r-0"), payment("r-2", payment_id="P-r-1")],
    )

    result = outbox.send_notice(carrying(contact("n-1"), batch))

    assert result.result == "sent"
    assert sorted(row.record_id for row in rows(store, PaymentRow)) == ["r-0", "r-1"]
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.send_tries) == ("sent", 1)


def test_a_call_task_is_one_write_with_the_records_it_carries(
    outbox: CollectionActivities, store: Store
) -> None:
    with commits_counted(store) as committed:
        result = outbox.queue_call(carrying(contact("c-1", "call"), records("e-1")))

    assert result.result == "queued"
    assert len(committed) == 1
    [task] = rows(store, WorkItemRow)
    assert (task.work_item_id, task.status) == ("c-1", "open")
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]


def test_a_notice_for_an_unprepared_case_is_still_refused_for_its_snapshot(
    store: Store, tmp_path: Path
) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))

    with pytest.raises(Exception) as excinfo:
        activities.send_notice(carrying(contact("n-1"), records("e-1")))

    assert getattr(excinfo.value, "type", None) == "CaseNotFound"
    assert rows(store, ContactAttemptRow) == []


def test_a_notice_under_caps_counts_the_borrowers_contacts_and_one_without_caps_does_not(
    store: Store, tmp_path: Path
) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    activities.prepare_case(prepare_request())
    uncapped = prepare_request(case_id="run-0002", case=case_input(loan_id="L-2002", policy="demo"))
    activities.prepare_case(uncapped)
    LinkKeys.from_env(store)

    with committed_statements(store, "contact_attempts") as capped_statements:
        assert activities.send_notice(contact("n-1")).result == "sent"
    with committed_statements(store, "contact_attempts") as uncapped_statements:
        sent = activities.send_notice(replace(contact("n-2"), case_id="run-0002", loan_id="L-2002"))

    assert sent.result == "sent"
    # Its own row looked for, the borrower's contacts counted, the row written, its outcome
    # set in one statement; without caps (`demo`), nothing to count.
    assert capped_statements == ["SELECT", "SELECT", "INSERT", "UPDATE"]
    assert uncapped_statements == ["SELECT", "INSERT", "UPDATE"]
    # The capped loan still counts: its second SMS of the day is deferred.
    assert activities.send_notice(contact("n-3")).result == "deferred"


def test_a_new_case_of_a_new_borrower_writes_its_two_rows_and_nothing_else(
    store: Store, tmp_path: Path
) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))

    with committed_statements(store) as sent, commits_counted(store) as committed:
        activities.prepare_case(prepare_request())

    # Looked for before the write transaction: inside it, the inserts only.
    assert sent == ["INSERT", "INSERT"]
    assert len(committed) == 1
    [case] = rows(store, CaseRow)
    assert (case.case_id, case.borrower_id) == (CASE_ID, "B-77")


def test_a_borrower_written_after_the_look_is_found_and_the_case_opened_all_the_same(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    activities.prepare_case(prepare_request())

    class SawNothingYet:
        """A look taken just before another worker wrote the borrower's row."""

        def get(self, *_args: object) -> None:
            return None

    monkeypatch.setattr(store, "reading", lambda: nullcontext(SawNothingYet()))
    [first] = rows(store, CaseRow)
    stored, new = store.open_case(
        CaseRow(**{**first.model_dump(), "case_id": "run-0002", "loan_id": "L-2002"}),
        borrower(phone="+8613900139000"),
    )

    assert new and stored.case_id == "run-0002"
    assert sorted(row.case_id for row in rows(store, CaseRow)) == [CASE_ID, "run-0002"]
    [borrower_row] = rows(store, BorrowerRow)
    assert borrower_row.phone == "+8613900139000"
