"""What a case's records change besides their own rows, in the same transaction: an outcome
closes the task it answers, an expired call leaves the agents' queue, a moved borrower opens a
skip-trace task, a send given up half-way is marked unconfirmed, and a snapshot moves the case's
row and its open work."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from sqlmodel import Session, col
from temporalio import activity

from activities.outbox import UNCONFIRMED
from contracts import CaseEvent, CaseSnapshot
from domain.audit import AuditKind
from domain.case_status import FINAL_STATUSES
from migrations.tables import (
    PART_COLUMNS,
    CaseRow,
    ContactAttemptRow,
    FieldVisitRow,
    WorkItemRow,
    utc_iso,
)

SKIP_TRACE_QUEUE = "skip-trace"

# What a case's open work (call tasks, booked visits) becomes with the case's status: a closed
# case's work is cancelled for good; a hold suspends it and a release brings it back.
OPEN_WORK: dict[type[WorkItemRow] | type[FieldVisitRow], str] = {
    WorkItemRow: "open",
    FieldVisitRow: "booked",
}
SUSPENDED = "suspended"
CANCELLED = "cancelled"
# The positions whose open work moves: suspended on hold, cancelled once closed.
SETTLING_STATUSES = frozenset({*FINAL_STATUSES, "on_hold"})

Effect = Callable[[Session], None]

log = activity.logger


def event_effect(case_event: CaseEvent, at: str) -> Effect | None:
    """What a new case event changes besides its own row, in the same transaction."""
    if (
        case_event.kind in (AuditKind.CONTACT_OUTCOME, AuditKind.VISIT_OUTCOME)
        and case_event.ref_id
    ):
        return _outcome_effect(case_event, at)
    if case_event.kind == AuditKind.CALL_EXPIRED and case_event.ref_id:
        return _expire_work_item(case_event.ref_id)
    if case_event.kind == AuditKind.SKIP_TRACE_OPENED and case_event.ref_id:
        return _open_skip_trace(case_event, at)
    if case_event.kind == AuditKind.CONTACT_NOT_SENT and case_event.ref_id:
        return _unconfirm_attempt(case_event.ref_id.rsplit(":", 1)[0])
    return None


def apply_snapshot(session: Session, snapshot: CaseSnapshot) -> bool:
    """Write the case's position to its row; False if there is no such case."""
    at = utc_iso(snapshot.at)
    row = session.get(CaseRow, snapshot.case_id)
    if row is None:
        return False
    # Snapshot activities may finish out of order; an older one must not win.
    if at < row.updated_at:
        return True
    status_before = row.status
    row.stage = snapshot.stage
    row.status = snapshot.status
    row.days_past_due = snapshot.days_past_due
    row.outstanding_minor = snapshot.outstanding_minor
    row.paid_minor = snapshot.paid_minor
    row.updated_at = at
    if snapshot.balance is not None:
        # A snapshot from before debts had parts leaves the parts as they are.
        for column in PART_COLUMNS:
            setattr(row, column, snapshot.balance.get(column, 0))
        row.balance_as_of = utc_iso(snapshot.balance_as_of) if snapshot.balance_as_of else None
    if snapshot.status in FINAL_STATUSES:
        row.closed_at = row.closed_at or at
    else:
        row.closed_at = None
    session.add(row)
    # Only a hold suspends work and only closing cancels it, so between two other positions
    # (most snapshots: every contact carries one) there is nothing to move. A position that
    # stays on hold or closed settles again: work written meanwhile follows the case.
    if {status_before, snapshot.status} & SETTLING_STATUSES:
        _settle_open_work(session, snapshot.case_id, snapshot.status)
    return True


def _settle_open_work(session: Session, case_id: str, case_status: str) -> None:
    for table, open_status in OPEN_WORK.items():
        if case_status in FINAL_STATUSES:
            moves = {open_status: CANCELLED, SUSPENDED: CANCELLED}
        elif case_status == "on_hold":
            moves = {open_status: SUSPENDED}
        else:
            moves = {SUSPENDED: open_status}
        for before, after in moves.items():
            session.execute(
                update(table)
                .where(col(table.case_id) == case_id, col(table.status) == before)
                .values(status=after)
            )


def _open_skip_trace(case_event: CaseEvent, at: str) -> Effect:
    """The borrower moved: a work item for the skip-trace team, keyed by the visit, once."""

    def apply(session: Session) -> None:
        work_item_id = f"{case_event.ref_id}.trace"
        if session.get(WorkItemRow, work_item_id) is None:
            session.add(
                WorkItemRow(
                    work_item_id=work_item_id,
                    case_id=case_event.case_id,
                    loan_id=case_event.loan_id,
                    queue=SKIP_TRACE_QUEUE,
                    kind="skip_trace",
                    status="open",
                    created_at=at,
                    due_at=at,
                )
            )

    return apply


def _expire_work_item(work_item_id: str) -> Effect:
    """A call task whose SLA passed with no outcome leaves the agents' open queue."""

    def apply(session: Session) -> None:
        item = session.get(WorkItemRow, work_item_id)
        if item is not None and item.status in ("open", "suspended"):
            item.status = "expired"
            session.add(item)

    return apply


def _unconfirm_attempt(attempt_id: str) -> Effect:
    """The case gave up on a send (cancelled by a hold or a payment, or out of its window)
    whose outbox row was already written: the provider may have it, so the record says so
    rather than "not sent". A later send of the same step reuses the attempt id, which the
    provider takes as the same message."""

    def apply(session: Session) -> None:
        attempt = session.get(ContactAttemptRow, attempt_id)
        if attempt is not None and attempt.status == "pending":
            attempt.status = UNCONFIRMED
            attempt.result = UNCONFIRMED
            attempt.note = "given up while being sent: the provider may have it"
            session.add(attempt)

    return apply


def _outcome_effect(case_event: CaseEvent, at: str) -> Effect:
    """Apply an agent's or visitor's outcome to the attempt it answers, with the event itself."""
    ref_id = case_event.ref_id
    outcome = _text(case_event.detail.get("outcome"))
    note = _text(case_event.detail.get("note"))

    def apply(session: Session) -> None:
        attempt = session.get(ContactAttemptRow, ref_id)
        if attempt is None:
            log.warning(
                "%s for an unknown attempt: loan_id=%s case_id=%s",
                case_event.kind,
                case_event.loan_id,
                case_event.case_id,
            )
            return
        attempt.result = outcome
        attempt.note = note
        session.add(attempt)
        closed: WorkItemRow | FieldVisitRow | None
        if case_event.kind == AuditKind.CONTACT_OUTCOME:
            closed = session.get(WorkItemRow, ref_id)
        else:
            closed = session.get(FieldVisitRow, ref_id)
        if closed is not None:
            closed.status = "done"
            closed.outcome = outcome
            closed.note = note
            closed.completed_at = at
            session.add(closed)

    return apply


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)
