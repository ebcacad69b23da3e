"""A payment and an audit event each have one shape on the I/O side: the contract's record,
mapped column for column to its row (`PaymentRow.from_record`, `CaseEventRow.from_event`), and
the evidence package reads the rows."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from activities.evidence import event_entry, payment_entry
from contracts import CaseEvent, PaymentRecord
from migrations.tables import CaseEventRow, PaymentRow

PAYMENT = PaymentRecord(
    case_id="run-1",
    record_id="P-1",
    loan_id="L-1",
    payment_id="P-1",
    amount_minor=120_000,
    currency="CNY",
    status="applied",
    received_at="2026-11-04T10:00:00+08:00",
    paid_at="2026-11-04",
    source="bank",
    applied_minor=120_000,
    outstanding_after_minor=380_000,
)
EVENT = CaseEvent(
    case_id="run-1",
    event_key="run-1:promise:PR-1",
    loan_id="L-1",
    kind="promise_made",
    at="2026-11-04T02:00:00",
    ref_id="PR-1",
    detail={"amount_minor": 500_000, "note": "说好了"},
)


def test_a_payment_row_has_the_records_fields() -> None:
    assert set(PaymentRow.model_fields) == {field.name for field in fields(PaymentRecord)}


def test_an_event_row_has_the_events_fields() -> None:
    assert set(CaseEventRow.model_fields) == {field.name for field in fields(CaseEvent)}


def test_a_payment_row_keeps_the_record_with_its_time_in_utc() -> None:
    row = PaymentRow.from_record(PAYMENT)
    assert row.model_dump() == {
        **asdict(PAYMENT),
        "received_at": "2026-11-04T02:00:00.000000+00:00",
    }


def test_an_event_row_keeps_the_event_with_its_detail_as_json() -> None:
    row = CaseEventRow.from_event(EVENT)
    assert json.loads(row.detail) == EVENT.detail
    assert row.at == "2026-11-04T02:00:00.000000+00:00"
    assert row.model_dump(exclude={"detail", "at"}) == {
        key: value for key, value in asdict(EVENT).items() if key not in ("detail", "at")
    }


def test_the_evidence_lists_a_payment_and_an_event_as_their_rows_hold_them() -> None:
    payment = PaymentRow.from_record(PAYMENT)
    event = CaseEventRow.from_event(EVENT)
    assert payment_entry(payment) == {
        key: value
        for key, value in payment.model_dump().items()
        if key not in ("case_id", "loan_id")
    }
    assert event_entry(event) == {
        "event_key": EVENT.event_key,
        "kind": EVENT.kind,
        "ref_id": EVENT.ref_id,
        "detail": EVENT.detail,
        "at": event.at,
    }
