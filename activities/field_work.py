"""Field work: a call task for the phone agents, a visit booked for two staff.

Each is recorded once, with its outbox row, under the borrower's caps; the people's outcome
comes back later as a case event (see `activities.record_effects`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import SQLModel
from temporalio import activity

import contracts
from activities.contacting import Contacting, log_attempt
from activities.outbox import attempt_row, contact_detail, notice_body, result_of
from contracts import ContactRequest, ContactResult
from migrations.tables import ContactAttemptRow, FieldVisitRow, WorkItemRow, utc_iso

CALL_QUEUE = "phone-agents"
# Visits are made by at least two staff (NIFA guideline).
VISIT_STAFF = 2


class FieldWork(Contacting):
    @activity.defn(name=contracts.QUEUE_CALL)
    def queue_call(self, request: ContactRequest) -> ContactResult:
        def work_item(attempt: ContactAttemptRow) -> WorkItemRow:
            return WorkItemRow(
                work_item_id=request.attempt_id,
                case_id=request.case_id,
                loan_id=request.loan_id,
                queue=CALL_QUEUE,
                kind="call",
                status="open",
                created_at=attempt.created_at,
                due_at=utc_iso(request.due_at or request.scheduled_at),
            )

        return self._assign(request, "call", "queued", work_item)

    @activity.defn(name=contracts.BOOK_FIELD_VISIT)
    def book_field_visit(self, request: ContactRequest) -> ContactResult:
        def visit(_attempt: ContactAttemptRow) -> FieldVisitRow:
            return FieldVisitRow(
                visit_id=request.attempt_id,
                case_id=request.case_id,
                loan_id=request.loan_id,
                staff_count=VISIT_STAFF,
                scheduled_for=utc_iso(request.due_at or request.scheduled_at),
                status="booked",
            )

        return self._assign(request, "field_visit", "booked", visit)

    def _assign(
        self,
        request: ContactRequest,
        channel: str,
        status: str,
        task: Callable[[ContactAttemptRow], SQLModel],
    ) -> ContactResult:
        """Record the attempt and the people's task it creates (a call for an agent, a visit
        for two staff), once; without the contact detail nobody can act, so no task."""
        if request.records is not None:
            self.store_case_records(request.records)
        row, case, borrower = self._contact_facts(request)
        if row is None:
            recipient = contact_detail(channel, borrower)
            attempt = attempt_row(
                request,
                recipient=recipient,
                status=status if recipient else "skipped",
                body=notice_body(request, borrower, case),
            )
            deferred = self._reserve(request, case, attempt, task(attempt))
            if deferred is not None:
                return deferred
            row = self._written(request.attempt_id)
            log_attempt(row, row.status)
        return result_of(row)
