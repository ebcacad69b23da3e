"""Metrics: the worker's one `/metrics` endpoint (the SDK's metrics and the business metrics),
scraped over real HTTP from a worker run as `worker.py` runs it, on the real dev server; the
counters under retried activities on SQLite and PostgreSQL; the open cases by stage counted
in the case database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel

from activities import metrics
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from contracts import CaseEvent, CaseRecords, PaymentRecord
from migrations.tables import CaseRow
from tests.helpers.activity_requests import CASE_ID, LOAN_ID, contact, prepare_request
from tests.helpers.metrics import counted, open_cases

# -- counters under retries ----------------------------------------------------------------


@pytest.fixture
def activities(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})  # no provider: the outbox, counted as sent
    yield CollectionActivities(store, tmp_path / "evidence", notifier)
    notifier.close()


def payment(record_id: str, status: str, **changes: Any) -> PaymentRecord:
    base = PaymentRecord(
        case_id=CASE_ID,
        record_id=record_id,
        loan_id=LOAN_ID,
        payment_id=record_id,
        amount_minor=120000,
        currency="CNY",
        status=status,
        received_at="2026-11-06T03:00:00+00:00",
    )
    return replace(base, **changes)


def test_a_retried_activity_counts_its_facts_once(activities: CollectionActivities) -> None:
    names = {
        "opened": ("collections_cases_opened_total", {"policy": "default"}),
        "sms": ("collections_contacts_total", {"channel": "sms", "result": "sent"}),
        "call": ("collections_contacts_total", {"channel": "call", "result": "queued"}),
        "applied": ("collections_payments_total", {"currency": "CNY", "result": "applied"}),
        "amount": (
            "collections_payment_amount_minor_total",
            {"currency": "CNY", "result": "applied"},
        ),
        "rejected": ("collections_payments_total", {"currency": "unknown", "result": "rejected"}),
        "closed": ("collections_cases_closed_total", {"status": "settled"}),
        "holds": ("collections_case_events_total", {"kind": "hold_placed"}),
    }
    before = {key: counted(name, **labels) for key, (name, labels) in names.items()}
    records = CaseRecords(
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        payments=[
            payment("bank-7", "applied"),
            payment("rejected-1", "rejected", amount_minor=None, currency=None),
        ],
        events=[
            CaseEvent(CASE_ID, f"{CASE_ID}:hold_placed:h-1", LOAN_ID, "hold_placed", "2026-11-06"),
            CaseEvent(
                CASE_ID,
                f"{CASE_ID}:closed:settled",
                LOAN_ID,
                "closed",
                "2026-11-06T04:00:00+00:00",
                ref_id="settled",
                detail={"status": "settled"},
            ),
        ],
    )
    for _ in range(2):  # Temporal retries; the second run finds every row and counts nothing
        activities.prepare_case(prepare_request())
        activities.send_notice(contact("run-0001:sms:1"))
        activities.queue_call(contact("run-0001:call:1", channel="call"))
        activities.store_case_records(records)

    after = {key: counted(name, **labels) for key, (name, labels) in names.items()}
    assert {key: after[key] - before[key] for key in names} == {
        "opened": 1,
        "sms": 1,
        "call": 1,
        "applied": 1,
        "amount": 120000,
        "rejected": 1,
        "closed": 1,
        "holds": 1,
    }


# -- open cases by stage, from the database ------------------------------------------------


def case_row(case_id: str, stage: str, *, closed: bool = False) -> CaseRow:
    return CaseRow(
        case_id=case_id,
        workflow_id=f"collection-{case_id}",
        loan_id=case_id,
        borrower_id="B-1",
        currency="CNY",
        overdue_amount_minor=1000,
        due_date="2026-11-01",
        policy="default",
        portfolio="consumer",
        timezone="Asia/Shanghai",
        stage=stage,
        status="paid" if closed else "active",
        outstanding_minor=0 if closed else 1000,
        opened_at="2026-11-02T00:00:00+00:00",
        updated_at="2026-11-02T00:00:00+00:00",
        closed_at="2026-11-03T00:00:00+00:00" if closed else None,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_open_cases_by_stage_are_counted_in_the_database_and_cached(store: Store) -> None:
    # Several workers share one database: whichever wrote a case, every worker counts it.
    for index, stage in enumerate(["grace", "reminder", "reminder", "phone", "legal"]):
        store.insert_if_absent(case_row(f"c-{index}", stage))
    store.insert_if_absent(case_row("c-closed", "closed", closed=True))
    clock = FakeClock()
    collector = metrics.OpenCasesCollector(store, max_age=15, clock=clock)

    zero = {stage: 0.0 for stage in metrics.OPEN_STAGES}
    assert open_cases(collector) == zero | {"grace": 1, "reminder": 2, "phone": 1, "legal": 1}

    store.insert_if_absent(case_row("c-new", "phone"))
    clock.now += 14  # within max_age: the answer of the last query
    assert open_cases(collector)["phone"] == 1
    clock.now += 1
    assert open_cases(collector)["phone"] == 2


def test_open_cases_leave_the_scrape_when_the_database_fails(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables yet
    clock = FakeClock()
    collector = metrics.OpenCasesCollector(store, max_age=15, clock=clock)
    try:
        assert list(collector.collect()) == []
        SQLModel.metadata.create_all(store.engine)
        store.insert_if_absent(case_row("c-1", "field_visit"))
        clock.now += 15  # a failed query waits its turn like any other
        assert open_cases(collector)["field_visit"] == 1
    finally:
        store.dispose()
