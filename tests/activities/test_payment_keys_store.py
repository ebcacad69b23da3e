"""Payments stored under a case's own key, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from cli.report_formats import report_json
from cli.report_reading import load_report
from contracts import CaseRecords, PaymentRecord
from domain.report import AsOf
from tests.helpers.activity_requests import case_input, payment, prepare_request
from tests.helpers.payment_keys import AMOUNT, PAYMENT_ID


def test_each_case_stores_its_own_payment_under_a_shared_id(
    two_cases: CollectionActivities, store: Store
) -> None:
    for case_id in LOANS:
        two_cases.store_payment(bank_payment(case_id))
        # The payment system retries: the same payment again in the same case stores nothing.
        two_cases.store_payment(bank_payment(case_id))

    for case_id, loan_id in LOANS.items():
        (row,) = store.payments_of_case(case_id)
        assert (row.loan_id, row.payment_id, row.applied_minor) == (loan_id, PAYMENT_ID, AMOUNT)
    assert collected(store) == 2 * AMOUNT


def test_each_case_stores_its_own_payment_in_a_batch(
    two_cases: CollectionActivities, store: Store
) -> None:
    """The one-transaction path of `store_case_records`, as the workflow sends it."""
    for case_id, loan_id in LOANS.items():
        batch = CaseRecords(case_id, loan_id, payments=[bank_payment(case_id)])
        two_cases.store_case_records(batch)
        two_cases.store_case_records(batch)  # a retried activity

    assert [len(store.payments_of_case(case_id)) for case_id in LOANS] == [1, 1]
    assert collected(store) == 2 * AMOUNT


def test_the_same_payment_under_another_record_id_still_counts_once_per_case(
    two_cases: CollectionActivities, store: Store
) -> None:
    two_cases.store_payment(bank_payment("run-A"))
    # Applied again under another record id (a replayed case): the money counts once.
    two_cases.store_payment(bank_payment("run-A", record_id="bank-1-replayed"))
    two_cases.store_case_records(
        CaseRecords("run-A", "L-A", payments=[bank_payment("run-A", record_id="bank-1-in-a-batch")])
    )
    two_cases.store_payment(bank_payment("run-B"))

    assert [row.record_id for row in store.payments_of_case("run-A")] == [PAYMENT_ID]
    assert collected(store) == 2 * AMOUNT


@pytest.fixture
def two_cases(store: Store, tmp_path: Path) -> CollectionActivities:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    for case_id, loan_id in LOANS.items():
        activities.prepare_case(
            prepare_request(
                case_id=case_id,
                workflow_id=f"collection-{loan_id}",
                case=case_input(loan_id=loan_id, overdue_amount_minor=5_000_000),
            )
        )
    return activities


def bank_payment(case_id: str, **changes: Any) -> PaymentRecord:
    """The payment as the case records it: an applied payment's record id is its payment id."""
    return replace(
        payment(PAYMENT_ID),
        case_id=case_id,
        loan_id=LOANS[case_id],
        payment_id=PAYMENT_ID,
        amount_minor=AMOUNT,
        applied_minor=AMOUNT,
        outstanding_after_minor=4_000_000,
        **changes,
    )


def collected(store: Store) -> int:
    (currency,) = report_json(load_report(store, AsOf(now=datetime.now(UTC))))["currencies"]
    assert currency["currency"] == "CNY"
    return int(currency["collected_minor"])


# Two loans, each with a case of its own, paid through the same bank whose ids repeat.
LOANS = {"run-A": "L-A", "run-B": "L-B"}
