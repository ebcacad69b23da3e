"""What every contact activity shares (a notice sent, a call queued, a visit booked): reading
the case and the borrower, reserving the contact under the borrower's caps, answering a
deferral, and recording what became of the attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import SQLModel
from temporalio import activity

import contracts
from activities import metrics
from activities.bookkeeping import Bookkeeping
from activities.contact_caps import reserve_contact
from activities.failures import policy_named
from contracts import ContactRequest, ContactResult
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow

log = activity.logger


class Contacting(Bookkeeping):
    def _contact_facts(
        self, request: ContactRequest
    ) -> tuple[ContactAttemptRow | None, CaseRow | None, BorrowerRow | None]:
        """The attempt so far, the case and the borrower's contact details, read together.

        The borrower is None when the database has none (nobody can be contacted then). A task
        scheduled before requests named the borrower finds them through its case's row."""
        with self.store.reading() as session:
            attempt = session.get(ContactAttemptRow, request.attempt_id)
            case = session.get(CaseRow, request.case_id)
            borrower_id = request.borrower_id or (case.borrower_id if case else None)
            borrower = None if borrower_id is None else session.get(BorrowerRow, borrower_id)
        return attempt, case, borrower

    def _reserve(
        self,
        request: ContactRequest,
        case: CaseRow | None,
        attempt: ContactAttemptRow,
        *with_rows: SQLModel,
    ) -> ContactResult | None:
        """Write the attempt (and its task) if the caps, counted over all of the borrower's
        loans, allow it now; otherwise the answer that defers it. An attempt nobody can be
        contacted for (no contact detail, no prepared case) is written as skipped."""
        if attempt.recipient is None or case is None:
            self.store.insert_if_absent(attempt)
            return None
        deferred = reserve_contact(
            self.store,
            attempt,
            *with_rows,
            borrower_id=case.borrower_id,
            policy=policy_named(case.policy),
            timezone=case.timezone,
            at=datetime.fromisoformat(request.scheduled_at),
        )
        if deferred is None:
            return None
        return deferral(attempt, deferred.rule, deferred.until, by=deferred.rule)

    def _written(self, attempt_id: str) -> ContactAttemptRow:
        """The attempt just written, counted."""
        row = self.store.get(ContactAttemptRow, attempt_id)
        assert row is not None
        metrics.observe_attempt(row)
        return row

    def _update_attempt(self, row: ContactAttemptRow, **values: Any) -> ContactAttemptRow:
        """Record what became of the attempt, and count it."""
        updated = self.store.update(ContactAttemptRow, row.attempt_id, **values)
        assert updated is not None
        metrics.observe_attempt(updated)
        return updated


def deferral(row: ContactAttemptRow, rule: str, until: datetime, *, by: str) -> ContactResult:
    """The answer for a contact that may not go out before `until` (by `rule`, described as
    `by` in the log): the case decides the step again then."""
    metrics.observe_contact(row.channel, contracts.CONTACT_DEFERRED, rule=rule)
    log_attempt(row, f"deferred by {by} until %s", until.isoformat())
    return ContactResult(
        attempt_id=row.attempt_id,
        result=contracts.CONTACT_DEFERRED,
        rule=rule,
        retry_at=until.isoformat(),
    )


def log_attempt(row: ContactAttemptRow, what: str, *args: object) -> None:
    """Log what happened to an attempt (`what`, with `args` for its %s), by ids only."""
    log.info(
        f"%s %s {what}: loan_id=%s case_id=%s attempt_id=%s",
        row.channel,
        row.template,
        *args,
        row.loan_id,
        row.case_id,
        row.attempt_id,
    )
