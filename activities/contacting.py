"""What every contact activity shares (a notice sent, a call queued, a visit booked): reading
the case and the borrower, reserving the contact under the borrower's caps, answering a
deferral, and recording what became of the attempt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel
from temporalio import activity

import contracts
from activities import metrics
from activities.bookkeeping import (
    BATCH_CONFLICTS,
    AddedRecords,
    Bookkeeping,
    add_case_records,
    write_recall_notices,
)
from activities.contact_caps import Reserved, reserve_contact
from activities.failures import policy_named
from contracts import ContactRequest, ContactResult
from domain.caps import Deferred
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow

log = activity.logger


class Contacting(Bookkeeping):
    def _contact_facts(
        self, request: ContactRequest
    ) -> tuple[ContactAttemptRow | None, CaseRow | None, BorrowerRow | None]:
        """The attempt so far, the case and the borrower's contact details, read together.

        The borrower is None when the database has none (nobody can be contacted then). A task
        scheduled before requests named the borrower finds them through its case's row. On a
        try after the first (the attempt is already written) the records the request carries
        are stored on their own first, and everything read again: they may have moved the
        attempt (a send given up half-way is unconfirmed)."""
        facts = self._read_contact_facts(request)
        if facts[0] is None:
            return facts
        self._store_carried(request.records)
        return self._read_contact_facts(request)

    def _read_contact_facts(
        self, request: ContactRequest
    ) -> tuple[ContactAttemptRow | None, CaseRow | None, BorrowerRow | None]:
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
    ) -> ContactResult | Reserved:
        """Write the attempt (and its task) if the caps, counted over all of the borrower's
        loans, allow it now, with the case's records the request carries, in one transaction;
        otherwise the answer that defers it (the records are written all the same). An
        attempt nobody can be contacted for (no contact detail, no prepared case) is written as
        skipped. Returns the deferral or the attempt's row, counted."""
        records = request.records
        if attempt.recipient is None or case is None:
            self._store_carried(records)
            new = self.store.insert_if_absent(attempt)
            row = self.store.get(ContactAttemptRow, attempt.attempt_id)
            assert row is not None
            reserved: Deferred | Reserved = Reserved(row, new=new)
        elif records is None:
            reserved = self._reserve_under_caps(request, case, attempt, *with_rows)
        else:
            write_recall_notices(self.evidence_dir, records)
            added: list[AddedRecords] = []
            try:
                reserved = self._reserve_under_caps(
                    request,
                    case,
                    attempt,
                    *with_rows,
                    first=lambda session: added.append(add_case_records(session, records)),
                )
            except BATCH_CONFLICTS:
                # The batch cannot be one transaction (see `store_case_records`): it is stored
                # part by part, then the attempt reserved on its own.
                added.clear()
                self._store_carried(records)
                reserved = self._reserve_under_caps(request, case, attempt, *with_rows)
            for stored in added:
                stored.observe()
        if isinstance(reserved, Deferred):
            return deferral(attempt, reserved.rule, reserved.until, by=reserved.rule)
        metrics.observe_attempt(reserved.row)
        return reserved

    def _reserve_under_caps(
        self,
        request: ContactRequest,
        case: CaseRow,
        attempt: ContactAttemptRow,
        *with_rows: SQLModel,
        first: Callable[[Session], None] | None = None,
    ) -> Deferred | Reserved:
        return reserve_contact(
            self.store,
            attempt,
            *with_rows,
            borrower_id=case.borrower_id,
            policy=policy_named(case.policy),
            timezone=case.timezone,
            at=datetime.fromisoformat(request.scheduled_at),
            first=first,
        )

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
