"""Bounded amounts, ids and free text as the case database stores them, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from activities.store import Store
from domain import fields
from domain.payments import parse_payment
from migrations.tables import CaseEventRow, CaseRow, ContactAttemptRow, PaymentRow
from tests.helpers.bounds import AMOUNT_MAX, ID_128, payment, refused


# -- the schema agrees ---------------------------------------------------------------
def case_row(amount: int) -> CaseRow:
    return CaseRow(
        case_id="run-1",
        workflow_id="collection-L-1",
        loan_id="L-1",
        borrower_id="b" * 128,
        currency="CNY",
        overdue_amount_minor=amount,
        due_date="2026-11-01",
        policy="default",
        portfolio="consumer",
        timezone="Asia/Shanghai",
        stage="grace",
        status="active",
        outstanding_minor=amount,
        paid_minor=amount,
        opened_at="2026-11-05T01:00:00.000000+00:00",
        updated_at="2026-11-05T01:00:00.000000+00:00",
    )


def payment_row(record_id: str, **changes: Any) -> PaymentRow:
    values: dict[str, Any] = {
        "record_id": record_id,
        "case_id": "run-1",
        "loan_id": "L-1",
        "status": "rejected",
        "received_at": "2026-11-05T01:00:00.000000+00:00",
    }
    values.update(changes)
    return PaymentRow(**values)


def test_case_amounts_at_the_bound_round_trip_exactly(store: Store) -> None:
    assert store.insert_if_absent(case_row(AMOUNT_MAX))
    stored = store.get(CaseRow, "run-1")
    assert stored is not None
    assert (stored.overdue_amount_minor, stored.outstanding_minor, stored.paid_minor) == (
        AMOUNT_MAX,
        AMOUNT_MAX,
        AMOUNT_MAX,
    )


def test_applied_payment_amounts_at_the_bound_round_trip_exactly(store: Store) -> None:
    row = payment_row(
        ID_128,
        payment_id=ID_128,
        status="applied",
        amount_minor=AMOUNT_MAX,
        currency="CNY",
        applied_minor=AMOUNT_MAX - 1,
        overpaid_minor=1,
        outstanding_after_minor=AMOUNT_MAX,
        source="s" * fields.SOURCE_MAX,
    )
    assert store.insert_if_absent(row)
    stored = store.get(PaymentRow, ("run-1", ID_128))
    assert stored is not None
    assert (
        stored.amount_minor,
        stored.applied_minor,
        stored.overpaid_minor,
        stored.outstanding_after_minor,
    ) == (AMOUNT_MAX, AMOUNT_MAX - 1, 1, AMOUNT_MAX)


def test_rejected_payment_with_long_id_and_reason_is_stored(store: Store) -> None:
    reason = "r" * 5000
    assert store.insert_if_absent(payment_row("rejected-1", payment_id=ID_128, reason=reason))
    stored = store.get(PaymentRow, ("run-1", "rejected-1"))
    assert stored is not None
    assert (stored.payment_id, stored.reason) == (ID_128, reason)


@pytest.mark.parametrize("absurd", ["P" * 300, "P-\x00", "P-\ud800", 42])
def test_rejected_payment_with_an_absurd_id_is_stored(store: Store, absurd: object) -> None:
    payment_id = fields.storable_id(absurd)
    reason = str(refused(lambda: parse_payment(payment(payment_id=absurd), case_currency="CNY")))
    assert store.insert_if_absent(payment_row("rejected-2", payment_id=payment_id, reason=reason))
    stored = store.get(PaymentRow, ("run-1", "rejected-2"))
    assert stored is not None
    assert (stored.payment_id, stored.reason) == (payment_id, reason)


def test_free_text_columns_are_unbounded(store: Store) -> None:
    long_text = "文" * 5000
    assert store.insert_if_absent(
        ContactAttemptRow(
            attempt_id="a-1",
            case_id="run-1",
            loan_id="L-1",
            channel="sms",
            template="reminder_friendly",
            body=long_text,
            note=long_text,
            status="sent",
            created_at="2026-11-05T01:00:00.000000+00:00",
        ),
        CaseEventRow(
            event_key="run-1:hold_placed:" + "h" * 128,
            case_id="run-1",
            loan_id="L-1",
            kind="hold_placed",
            ref_id="h" * 128,
            detail=long_text,
            at="2026-11-05T01:00:00.000000+00:00",
        ),
    )
    with store.session() as session:
        event = session.exec(select(CaseEventRow)).one()
        attempt = session.exec(select(ContactAttemptRow)).one()
    assert (event.ref_id, event.detail) == ("h" * 128, long_text)
    assert (attempt.body, attempt.note) == (long_text, long_text)
