"""Bookkeeping: a case's payments, audit events and position, written to the case database.

Every part is idempotent by its key (record id, event key; a snapshot older than the row's
position changes nothing), so a retried batch is too. The activities that carry a batch with
them (`ContactRequest.records`, `LegalHandOffRequest.records`) store it first, through
`store_case_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity

import contracts
from activities import metrics
from activities.activity_base import ActivityBase
from activities.evidence import write_recall_notice
from activities.failures import case_not_found
from activities.record_effects import apply_snapshot, event_effect
from activities.store import not_yet_held
from contracts import CaseEvent, CaseRecords, CaseSnapshot, PaymentRecord
from domain.audit import AuditKind
from migrations.tables import CaseEventRow, PaymentRow, utc_iso

log = activity.logger


class NoPreparedCase(Exception):
    """A snapshot names a case the database does not have: the batch is stored part by part."""


# What a batch written in one transaction may meet, so that it is stored part by part instead.
BATCH_CONFLICTS = (IntegrityError, NoPreparedCase)


@dataclass(frozen=True)
class AddedRecords:
    """The parts of a batch added to a transaction that were new, to be counted and logged
    once it commits."""

    payments: list[PaymentRecord] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)

    def observe(self) -> None:
        for record in self.payments:
            _stored_payment(record)
        for case_event in self.events:
            _stored_case_event(case_event)


def add_case_records(session: Session, records: CaseRecords) -> AddedRecords:
    """Add a case's batch to `session`'s transaction: what is new of it (every part is
    idempotent by its key). Raises NoPreparedCase for a snapshot of an unknown case; a
    conflict (the same payment under another record id) raises IntegrityError on commit."""
    added = AddedRecords()
    payment_rows = [PaymentRow.from_record(record) for record in records.payments]
    for place, payment_row in not_yet_held(session, payment_rows):
        session.add(payment_row)
        added.payments.append(records.payments[place])
    event_rows = [CaseEventRow.from_event(case_event) for case_event in records.events]
    for place, event_row in not_yet_held(session, event_rows):
        case_event = records.events[place]
        session.add(event_row)
        if (effect := event_effect(case_event, event_row.at)) is not None:
            effect(session)
        added.events.append(case_event)
    if records.snapshot is not None and not apply_snapshot(session, records.snapshot):
        raise NoPreparedCase
    return added


def write_recall_notices(evidence_dir: Path, records: CaseRecords) -> None:
    """The recall notice of every legal recall in the batch, before the batch is stored (a
    file, written again the same on a retry)."""
    for case_event in records.events:
        if case_event.kind == AuditKind.LEGAL_RECALLED:
            write_recall_notice(evidence_dir, case_event, utc_iso(case_event.at))


class Bookkeeping(ActivityBase):
    @activity.defn(name=contracts.STORE_CASE_RECORDS)
    def store_case_records(self, records: CaseRecords) -> None:
        """A case's bookkeeping batch. A batch that fails is counted and logged here; the case
        keeps it and sends it again later."""
        try:
            self._store_case_records(records)
        except Exception as error:
            kind = metrics.observe_bookkeeping_failure(error)
            log.warning(
                "case records not stored (%s), the case sends them again: loan_id=%s "
                "case_id=%s records=%s",
                kind,
                records.loan_id,
                records.case_id,
                len(records.payments) + len(records.events),
            )
            raise

    def _store_carried(self, records: CaseRecords | None) -> None:
        """The case's records a request carries (a contact, a hand-off), stored first: what
        the activity then reads (the evidence package's payments and events) includes them."""
        if records is not None:
            self.store_case_records(records)

    def _store_case_records(self, records: CaseRecords) -> None:
        """A case's bookkeeping batch; every part is idempotent, so a retried batch is too.

        Usually the whole batch is one transaction. Where that meets a conflict (the same
        payment applied under another record id, a concurrent retry of this batch, no prepared
        case), each record is stored on its own, as each part's own method decides."""
        write_recall_notices(self.evidence_dir, records)
        if self._store_in_one_transaction(records):
            return
        for record in records.payments:
            self.store_payment(record)
        for case_event in records.events:
            self.store_case_event(case_event)
        if records.snapshot is not None:
            self.store_case_snapshot(records.snapshot)

    def _store_in_one_transaction(self, records: CaseRecords) -> bool:
        """Store the batch in one transaction; False, with nothing written, on any conflict."""
        try:
            with self.store.session() as session:
                added = add_case_records(session, records)
        except BATCH_CONFLICTS:
            return False
        added.observe()
        return True

    def store_payment(self, record: PaymentRecord) -> None:
        try:
            inserted = self.store.insert_if_absent(PaymentRow.from_record(record))
        except IntegrityError:
            if not self._applied_payment_exists(record):
                raise
            # The same payment applied under another record id: the money counts once.
            inserted = False
            metrics.observe_payment(record, result="duplicate")
        if inserted:
            _stored_payment(record)

    def _applied_payment_exists(self, record: PaymentRecord) -> bool:
        with self.store.reading() as session:
            found = session.exec(
                select(PaymentRow.record_id).where(
                    col(PaymentRow.case_id) == record.case_id,
                    col(PaymentRow.payment_id) == record.payment_id,
                    col(PaymentRow.status) == "applied",
                )
            ).first()
        return found is not None

    def store_case_event(self, case_event: CaseEvent) -> None:
        row = CaseEventRow.from_event(case_event)
        if case_event.kind == AuditKind.LEGAL_RECALLED:
            write_recall_notice(self.evidence_dir, case_event, row.at)
        if self.store.insert_if_absent(row, then=event_effect(case_event, row.at)):
            _stored_case_event(case_event)

    def store_case_snapshot(self, snapshot: CaseSnapshot) -> None:
        with self.store.session() as session:
            if not apply_snapshot(session, snapshot):
                raise case_not_found(snapshot.case_id)


def _stored_payment(record: PaymentRecord) -> None:
    metrics.observe_payment(record)
    log.info(
        "payment %s stored: loan_id=%s case_id=%s record_id=%s",
        record.status,
        record.loan_id,
        record.case_id,
        record.record_id,
    )


def _stored_case_event(case_event: CaseEvent) -> None:
    metrics.observe_case_event(case_event)
    log.info(
        "case event %s: loan_id=%s case_id=%s",
        case_event.kind,
        case_event.loan_id,
        case_event.case_id,
    )
