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


class FieldWork(Contacting):
    @activity.defn(name=contracts.QUEUE_CALL)
    def queue_call(self, request: ContactRequest) -> ContactResult:
        return self._assign(request, "call", "queued", _call_task)

    @activity.defn(name=contracts.BOOK_FIELD_VISIT)
    def book_field_visit(self, request: ContactRequest) -> ContactResult:
        return self._assign(request, "field_visit", "booked", _visit)

    def _assign(
        self,
        request: ContactRequest,
        channel: str,
        status: str,
        task: Callable[[ContactAttemptRow, str], SQLModel],
    ) -> ContactResult:
        """Record the attempt and the people's task it creates (a call for an agent, a visit
        for two staff), once; without the contact detail nobody can act, so no task."""
        row, case, borrower = self._contact_facts(request)
        if row is None:
            recipient = contact_detail(channel, borrower)
            attempt = attempt_row(
                request,
                recipient=recipient,
                status=status if recipient else "skipped",
                body=notice_body(request, borrower, case),
            )
            # Due when the case's deadline for it falls, else at the contact's own moment.
            due_at = utc_iso(request.due_at or request.scheduled_at)
            reserved = self._reserve(request, case, attempt, task(attempt, due_at))
            if isinstance(reserved, ContactResult):
                return reserved
            row = reserved.row
            log_attempt(row, row.status)
        return result_of(row)


def _call_task(attempt: ContactAttemptRow, due_at: str) -> WorkItemRow:
    """An open call task in the phone agents' queue (the table's defaults), keyed by the
    attempt."""
    return WorkItemRow(
        work_item_id=attempt.attempt_id,
        case_id=attempt.case_id,
        loan_id=attempt.loan_id,
        created_at=attempt.created_at,
        due_at=due_at,
    )


def _visit(attempt: ContactAttemptRow, due_at: str) -> FieldVisitRow:
    """A visit booked for two staff (the table's defaults), keyed by the attempt."""
    return FieldVisitRow(
        visit_id=attempt.attempt_id,
        case_id=attempt.case_id,
        loan_id=attempt.loan_id,
        scheduled_for=due_at,
    )
