"""A payment and an audit event each have one shape on the I/O side: the contract's record,
mapped column for column to its row (`PaymentRow.from_record`, `CaseEventRow.from_event`; a
payment's allocation one column a part), and the evidence package reads the rows. A payment
record stays decodable in the shape that recorded histories hold."""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace

from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

import contracts
from activities.evidence import event_entry, payment_entry
from contracts import CaseEvent, CaseRecords, PaymentRecord
from migrations.tables import PART_COLUMNS, CaseEventRow, PaymentRow
from tests.helpers.paths import HISTORY_DIR

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
    allocation={
        "principal_minor": 70_000,
        "interest_minor": 20_000,
        "fees_minor": 30_000,
        "penalty_minor": 0,
    },
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
    # All but the fact's own `at` (`received_at` holds it where the fact had one), and the
    # allocation one column a part.
    record_fields = {field.name for field in fields(PaymentRecord)} - {"at", "allocation"}
    assert set(PaymentRow.model_fields) == record_fields | set(PART_COLUMNS)


def test_an_event_row_has_the_events_fields() -> None:
    assert set(CaseEventRow.model_fields) == {field.name for field in fields(CaseEvent)}


def test_a_payment_row_keeps_the_record_with_its_time_in_utc() -> None:
    row = PaymentRow.from_record(PAYMENT)
    assert PAYMENT.allocation is not None
    assert row.model_dump() == {
        **{key: value for key, value in asdict(PAYMENT).items() if key not in ("at", "allocation")},
        **PAYMENT.allocation,
        "received_at": "2026-11-04T02:00:00.000000+00:00",
    }
    assert row.allocation == PAYMENT.allocation


def test_a_payment_without_an_allocation_has_none_in_its_row() -> None:
    """A rejected payment, or one the case took before debts had parts."""
    row = PaymentRow.from_record(replace(PAYMENT, allocation=None))
    assert [getattr(row, column) for column in PART_COLUMNS] == [None] * 4
    assert row.allocation is None


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
    # The record's fields, its allocation as the record has it, without the case's ids.
    assert payment_entry(payment) == {
        **{
            key: value
            for key, value in asdict(PAYMENT).items()
            if key not in ("case_id", "loan_id", "at")
        },
        "received_at": payment.received_at,
    }
    assert event_entry(event) == {
        "event_key": EVENT.event_key,
        "kind": EVENT.kind,
        "ref_id": EVENT.ref_id,
        "detail": EVENT.detail,
        "at": event.at,
    }


# A payment record as histories recorded it before the record carried its fact's `at`.
OLD_PAYMENT = {
    "case_id": "run-1",
    "record_id": "P-1",
    "loan_id": "L-1",
    "payment_id": "P-1",
    "amount_minor": 120_000,
    "currency": "CNY",
    "status": "applied",
    "received_at": "2026-11-04T10:00:00+08:00",
    "paid_at": "2026-11-04",
    "source": "bank",
    "reason": None,
    "applied_minor": 120_000,
    "overpaid_minor": 0,
    "outstanding_after_minor": 380_000,
}


async def test_an_old_payment_record_decodes_with_the_default_converter() -> None:
    old_batch = {"case_id": "run-1", "loan_id": "L-1", "payments": [OLD_PAYMENT], "events": []}
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(old_batch).encode())
    [records] = await DataConverter.default.decode([payload], [CaseRecords])
    old = replace(PAYMENT, allocation=None)
    assert records == CaseRecords(case_id="run-1", loan_id="L-1", payments=[old])
    assert records.payments[0].at is None


# The activities whose input can carry a batch of records, by the input's type.
BATCH_CARRIERS: dict[str, type] = {
    contracts.STORE_CASE_RECORDS: CaseRecords,
    contracts.SEND_NOTICE: contracts.ContactRequest,
    contracts.QUEUE_CALL: contracts.ContactRequest,
    contracts.BOOK_FIELD_VISIT: contracts.ContactRequest,
    contracts.HAND_OFF_TO_LEGAL: contracts.LegalHandOffRequest,
}


async def test_every_recorded_payment_record_still_decodes() -> None:
    decoded: list[PaymentRecord] = []
    for path in sorted(HISTORY_DIR.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        for event in history.events:
            scheduled = event.activity_task_scheduled_event_attributes
            carrier = BATCH_CARRIERS.get(scheduled.activity_type.name)
            if carrier is None:
                continue
            [request] = await DataConverter.default.decode(scheduled.input.payloads, [carrier])
            batch = request if isinstance(request, CaseRecords) else request.records
            decoded.extend(batch.payments if batch is not None else [])
    assert decoded, "the recorded histories hold no payment record"
    assert all(type(record) is PaymentRecord for record in decoded)
