"""The activities of a collection case: every piece of I/O the workflow needs.

Each activity is idempotent by the key the workflow chose (case id, attempt id, record id,
event key, referral id): it records its intent in the database before acting, and a retry or
re-run that finds the record returns the stored result instead of acting again. The methods
are synchronous (sqlmodel is), so the worker runs them in a thread pool.

The borrower's name and contact details are read from the case database (`borrowers`) by
borrower id when an activity needs them: inputs and results of activities stay in Temporal's
history, so they carry ids only. Logs carry loan and case ids only, never the borrower's name
or contact details.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts
from activities import metrics
from activities.borrower_channels import blocking_rule, mark
from activities.contact_caps import reserve_contact
from activities.evidence import write_package
from activities.notify import (
    Delivery,
    DeliveryRejected,
    DeliveryUnavailable,
    Notifier,
    OutboundMessage,
    notifier_from_env,
)
from activities.providers.base import PROVIDER_REJECTION
from activities.store import Store, add_if_absent, utc_iso
from contracts import (
    CaseEvent,
    CaseRecords,
    CaseSnapshot,
    ContactRequest,
    ContactResult,
    LegalHandOffRequest,
    LegalHandOffResult,
    LoanFacts,
    PaymentRecord,
    PreparedCase,
    PrepareRequest,
)
from domain.case import Borrower
from domain.case_status import FINAL_STATUSES
from domain.errors import InvalidInput
from domain.notices import NoticeFacts
from domain.policy import Policy
from migrations.tables import (
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    FieldVisitRow,
    LegalReferralRow,
    PaymentRow,
    WorkItemRow,
)
from policies import load_policy
from runtime import settings
from templates import render_notice

NOTIFICATION_REJECTED = "NotificationRejected"
NOTIFICATION_UNAVAILABLE = "NotificationUnavailable"
INVALID_CONTACT = "InvalidContact"
CASE_NOT_FOUND = "CaseNotFound"

CONTACT_OUTCOME = "contact_outcome"
CONTACT_NOT_SENT = "contact_not_sent"
LEGAL_RECALLED = "legal_recalled"
CALL_EXPIRED = "call_expired"
SKIP_TRACE_OPENED = "skip_trace_opened"
SKIP_TRACE_QUEUE = "skip-trace"
VISIT_OUTCOME = "visit_outcome"
NOTICE_CHANNELS = ("sms", "email", "letter")
# The rule of a contact deferred because its provider asked us to come back later.
# What is left of a Retry-After that the activity waits out by its own retry, not by deferring.
PROVIDER_WAIT_RETRIED = timedelta(seconds=2)
# An outbox row whose send was given up half-way: maybe delivered, maybe not.
UNCONFIRMED = "unconfirmed"
# Outbox rows a send may (still) deliver, under the row's own idempotency key.
SENDABLE = ("pending", UNCONFIRMED)
CHANNEL_LABEL = {"call": "call", "field_visit": "field visit"}
CALL_QUEUE = "phone-agents"
VISIT_STAFF = 2

# The answer an activity gives for the status of its outbox row; a later outcome overwrites the
# row's `result`, but a repeated call must still answer what the first one did.
RESULT_BY_STATUS = {
    "sent": "sent",
    "unconfirmed": "unconfirmed",
    "skipped": "skipped_no_contact",
    "queued": "queued",
    "booked": "booked",
    "referred": "referred",
    "blocked": "blocked",
}

log = activity.logger


class CollectionActivities:
    def __init__(self, store: Store, evidence_dir: Path, notifier: Notifier) -> None:
        self.store = store
        self.evidence_dir = evidence_dir
        self.notifier = notifier

    @classmethod
    def from_env(cls) -> CollectionActivities:
        """Database, evidence folder and providers as configured in the environment."""
        store = Store.from_env()
        store.require_current_schema()
        return cls(store, settings.evidence_dir(), notifier_from_env())

    def all(self) -> Sequence[Callable[..., Any]]:
        """Every activity, bound to this instance, for `Worker(activities=...)`."""
        return [
            self.prepare_case,
            self.send_notice,
            self.queue_call,
            self.book_field_visit,
            self.hand_off_to_legal,
            self.store_case_records,
        ]

    @activity.defn(name=contracts.PREPARE_CASE)
    def prepare_case(self, request: PrepareRequest) -> PreparedCase:
        case = request.case
        policy = _policy(case.policy)
        # Both were validated already: the borrower's at start, the default with the policy.
        timezone = case.borrower.timezone or policy.default_timezone
        ladder = planned_ladder(policy)
        opened_at = utc_iso(request.opened_at)
        stored, first_time = self.store.open_case(
            CaseRow(
                case_id=request.case_id,
                workflow_id=request.workflow_id,
                loan_id=case.loan_id,
                borrower_id=case.borrower.borrower_id,
                currency=case.currency,
                overdue_amount_minor=case.overdue_amount_minor,
                due_date=case.due_date,
                policy=policy.name,
                portfolio=case.portfolio,
                timezone=timezone,
                # Prepared means in grace: the workflow's first position, not written twice.
                stage="grace",
                status="active",
                outstanding_minor=case.overdue_amount_minor,
                planned_ladder=json.dumps(ladder, ensure_ascii=False),
                opened_at=opened_at,
                # Workflow time, like every snapshot's, so the first snapshot is never "older".
                updated_at=opened_at,
            ),
            # The one place contact details enter the system: this activity is local, so its
            # input never reaches the history, and every later activity reads them from here.
            case.borrower,
        )
        log.info("case prepared: loan_id=%s case_id=%s", case.loan_id, request.case_id)
        if first_time:
            metrics.observe_case_opened(policy.name)
        return PreparedCase(
            policy=policy,
            timezone=timezone,
            planned_ladder=ladder,
            # The first opening recorded, whichever attempt of the preparation this is.
            opened_at=stored.opened_at,
        )

    @activity.defn(name=contracts.SEND_NOTICE)
    def send_notice(self, request: ContactRequest) -> ContactResult:
        if request.records is not None:
            self.store_case_records(request.records)
        if request.channel not in NOTICE_CHANNELS:
            raise ApplicationError(
                f"channel: send_notice cannot use {request.channel!r}",
                type=INVALID_CONTACT,
                non_retryable=True,
            )
        row, case, borrower = self._contact_facts(request)
        if row is not None and row.status not in SENDABLE:
            return _result_of(row)
        body = _body(request, borrower, case)
        if row is None:
            recipient = _contact_detail(request.channel, borrower)
            attempt = _attempt_row(
                request,
                recipient=recipient,
                status="pending" if recipient else "skipped",
                body=body,
            )
            deferred = self._reserve(request, case, attempt)
            if deferred is not None:
                return deferred
            row = self.store.get(ContactAttemptRow, request.attempt_id)
            assert row is not None
            metrics.observe_attempt(row)
        if row.status in SENDABLE:
            assert borrower is not None  # without the borrower's row the attempt is skipped
            # Checked before every try, so a STOP that arrives between retries is honoured.
            rule = blocking_rule(self.store, borrower.borrower_id, row.channel, row.recipient)
            if rule is not None:
                row = self._block(row, rule)
            else:
                held = self._held_by_provider(row)
                if held is not None:
                    return held
                if row.body != body:
                    # The step was decided again (a payment changed the amount): the message
                    # states the amount when it is sent, under the same idempotency key.
                    row = self.store.update(ContactAttemptRow, row.attempt_id, body=body) or row
                row = self._deliver(row, borrower.borrower_id)
        return _result_of(row)

    def _block(self, row: ContactAttemptRow, rule: str) -> ContactAttemptRow:
        """Record that a rule (an opt-out, an undeliverable channel) stopped the contact."""
        updated = self.store.update(
            ContactAttemptRow, row.attempt_id, status="blocked", result="blocked", note=rule
        )
        assert updated is not None
        metrics.observe_attempt(updated)
        log.info(
            "%s %s blocked (%s): loan_id=%s case_id=%s attempt_id=%s",
            row.channel,
            row.template,
            rule,
            row.loan_id,
            row.case_id,
            row.attempt_id,
        )
        return updated

    def _held_by_provider(self, row: ContactAttemptRow) -> ContactResult | None:
        """The deferred answer while the provider's Retry-After runs: a step decided again
        (a payment arrived during the wait) starts the activity anew at once, and must not
        call the provider before the moment it asked for. The last moments of the wait are the
        activity's own retry instead."""
        if row.provider_not_before is None:
            return None
        not_before = datetime.fromisoformat(row.provider_not_before)
        remaining = not_before - datetime.now(UTC)
        if remaining <= timedelta(0):
            return None
        if remaining <= PROVIDER_WAIT_RETRIED:
            # So short it is clocks differing (the server's timer against this worker's): a
            # deferral would be due at once for the case and start the activity again at once.
            raise ApplicationError(
                f"{row.channel} provider asked us to wait until {row.provider_not_before}",
                type=NOTIFICATION_UNAVAILABLE,
                next_retry_delay=remaining,
            )
        metrics.observe_contact(
            row.channel, contracts.CONTACT_DEFERRED, rule=contracts.RETRY_AFTER_RULE
        )
        log.info(
            "%s %s deferred by the provider's Retry-After until %s: loan_id=%s case_id=%s "
            "attempt_id=%s",
            row.channel,
            row.template,
            row.provider_not_before,
            row.loan_id,
            row.case_id,
            row.attempt_id,
        )
        return ContactResult(
            attempt_id=row.attempt_id,
            result=contracts.CONTACT_DEFERRED,
            rule=contracts.RETRY_AFTER_RULE,
            retry_at=not_before.isoformat(),
        )

    def _deliver(self, row: ContactAttemptRow, borrower_id: str) -> ContactAttemptRow:
        """Send a pending outbox row, at most once to the borrower.

        Every send is counted on the row before its HTTP call. A try that finds one counted
        cannot know whether it reached the provider (the worker died, the answer was lost), so
        it asks the provider first (`Notifier.find_sent`: by the idempotency key, or by a
        marker the message carries where the provider takes no key), marks the attempt sent
        if the provider has it, and sends only if it has not. A lookup that fails is retried
        later: nothing is sent blind."""
        assert row.recipient is not None and row.body is not None
        message = OutboundMessage(
            idempotency_key=row.attempt_id, channel=row.channel, to=row.recipient, body=row.body
        )
        if row.send_tries > 0:
            since = datetime.fromisoformat(row.send_started_at or row.created_at)
            try:
                earlier = self.notifier.find_sent(message, since=since)
            except DeliveryUnavailable as error:
                raise self._unavailable(row, error) from error
            if earlier is not None:
                return self._sent(row, earlier, found_earlier=True)
        self.store.update(
            ContactAttemptRow,
            row.attempt_id,
            send_tries=row.send_tries + 1,
            send_started_at=row.send_started_at or utc_iso(),
        )
        try:
            delivery = self.notifier.deliver(message)
        except DeliveryRejected as error:
            if error.recipient_state is not None:
                # Before the attempt is marked failed: a retry after a crash here finds the
                # attempt still pending and marks the channel again (idempotently).
                mark(
                    self.store,
                    borrower_id,
                    row.channel,
                    error.recipient_state,
                    row.recipient,
                    source=PROVIDER_REJECTION,
                    reason=f"{row.attempt_id}: {error}",
                )
            self.store.update(
                ContactAttemptRow,
                row.attempt_id,
                status="failed",
                result="failed",
                note=str(error),
            )
            metrics.observe_contact(row.channel, "failed")
            log.warning(
                "notice rejected by provider (HTTP %s, channel %s): loan_id=%s case_id=%s "
                "attempt_id=%s",
                error.status_code,
                error.recipient_state or "left open",
                row.loan_id,
                row.case_id,
                row.attempt_id,
            )
            raise _rejected(row.channel, error.status_code) from None
        except DeliveryUnavailable as error:
            raise self._unavailable(row, error) from error
        return self._sent(row, delivery, found_earlier=False)

    def _unavailable(self, row: ContactAttemptRow, error: DeliveryUnavailable) -> ApplicationError:
        """The retryable error for a provider that failed us for now. Its Retry-After is kept
        on the row as well, so that no start of this attempt calls it sooner."""
        if error.retry_after is not None:
            not_before = datetime.now(UTC) + error.retry_after
            self.store.update(
                ContactAttemptRow, row.attempt_id, provider_not_before=utc_iso(not_before)
            )
        return ApplicationError(
            f"{row.channel} provider unavailable: {error}",
            type=NOTIFICATION_UNAVAILABLE,
            # The provider's Retry-After, if it gave one; otherwise the retry policy's backoff.
            next_retry_delay=error.retry_after,
        )

    def _sent(
        self, row: ContactAttemptRow, delivery: Delivery, *, found_earlier: bool
    ) -> ContactAttemptRow:
        updated = self.store.update(
            ContactAttemptRow,
            row.attempt_id,
            status="sent",
            result="sent",
            provider_ref=delivery.provider_ref,
            sent_at=utc_iso(),
        )
        assert updated is not None
        metrics.observe_attempt(updated)
        log.info(
            "%s %s %s via %s: loan_id=%s case_id=%s attempt_id=%s",
            row.channel,
            row.template,
            "found sent by an earlier try, not sent again," if found_earlier else "sent",
            delivery.via,
            row.loan_id,
            row.case_id,
            row.attempt_id,
        )
        return updated

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
            recipient = _contact_detail(channel, borrower)
            attempt = _attempt_row(
                request,
                recipient=recipient,
                status=status if recipient else "skipped",
                body=_body(request, borrower, case),
            )
            deferred = self._reserve(request, case, attempt, task(attempt))
            if deferred is not None:
                return deferred
            row = self.store.get(ContactAttemptRow, request.attempt_id)
            assert row is not None
            metrics.observe_attempt(row)
            log.info(
                "%s %s: loan_id=%s case_id=%s attempt_id=%s",
                CHANNEL_LABEL[channel],
                row.status,
                request.loan_id,
                request.case_id,
                request.attempt_id,
            )
        return _result_of(row)

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
            policy=_policy(case.policy),
            timezone=case.timezone,
            at=datetime.fromisoformat(request.scheduled_at),
        )
        if deferred is None:
            return None
        metrics.observe_contact(attempt.channel, contracts.CONTACT_DEFERRED, rule=deferred.rule)
        log.info(
            "%s %s deferred by %s until %s: loan_id=%s case_id=%s attempt_id=%s",
            attempt.channel,
            attempt.template,
            deferred.rule,
            deferred.until.isoformat(),
            attempt.loan_id,
            attempt.case_id,
            attempt.attempt_id,
        )
        return ContactResult(
            attempt_id=attempt.attempt_id,
            result=contracts.CONTACT_DEFERRED,
            rule=deferred.rule,
            retry_at=deferred.until.isoformat(),
        )

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

    @activity.defn(name=contracts.HAND_OFF_TO_LEGAL)
    def hand_off_to_legal(self, request: LegalHandOffRequest) -> LegalHandOffResult:
        if request.records is not None:
            self.store_case_records(request.records)
        existing = self.store.get(LegalReferralRow, request.referral_id)
        if existing is None:
            case_row = self.store.get(CaseRow, request.case_id)
            loan = request.loan or _loan_of(request.case_id, case_row)
            directory = self._evidence_dir_of(loan.loan_id)
            created_at = utc_iso(request.at)
            package = write_package(
                directory,
                request,
                loan=loan,
                # The lawyers need to know whom the claim is against: from the database only.
                borrower=self.store.get(BorrowerRow, loan.borrower_id),
                case_row=case_row,
                contacts=self.store.contacts_of_case(request.case_id),
                payments=self.store.payments_of_case(request.case_id),
                events=self.store.events_of_case(request.case_id),
                created_at=created_at,
            )
            referral = LegalReferralRow(
                referral_id=request.referral_id,
                case_id=request.case_id,
                loan_id=loan.loan_id,
                evidence_dir=str(package.directory),
                manifest_sha256=package.manifest_sha256,
                files=json.dumps(package.files),
                created_at=created_at,
            )
            attempt = ContactAttemptRow(
                attempt_id=request.referral_id,
                case_id=request.case_id,
                loan_id=loan.loan_id,
                channel="legal",
                template="legal_referral",
                status="referred",
                result="referred",
                days_past_due=request.days_past_due,
                created_at=created_at,
                sent_at=created_at,
            )
            if self.store.insert_if_absent(referral, attempt):
                metrics.observe_attempt(attempt)
            existing = self.store.get(LegalReferralRow, request.referral_id)
            assert existing is not None
            log.info(
                "handed off to legal: loan_id=%s case_id=%s referral_id=%s",
                loan.loan_id,
                request.case_id,
                request.referral_id,
            )
        return LegalHandOffResult(
            referral_id=existing.referral_id,
            evidence_dir=existing.evidence_dir,
            files=json.loads(existing.files),
        )

    def _evidence_dir_of(self, loan_id: str) -> Path:
        # The loan id pattern admits "." and "..", which must not escape the evidence folder.
        directory = (self.evidence_dir / loan_id).resolve()
        if directory.parent != self.evidence_dir.resolve():
            raise _invalid_case("loan_id", "cannot name an evidence folder")
        return directory

    def _recall_legal_file(self, case_event: CaseEvent, at: str) -> None:
        """Tell the legal partner the file is recalled: a notice beside the evidence package
        they were handed, written once (a retried batch finds it and leaves it)."""
        directory = self._evidence_dir_of(case_event.loan_id)
        notice = directory / "RECALLED.json"
        if not directory.exists() or notice.exists():
            return
        notice.write_text(
            json.dumps(
                {
                    "loan_id": case_event.loan_id,
                    "case_id": case_event.case_id,
                    "recalled_at": at,
                    "reason": f"case closed {case_event.detail.get('status')}",
                },
                indent=2,
            )
        )
        log.info(
            "legal file recalled: loan_id=%s case_id=%s", case_event.loan_id, case_event.case_id
        )

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

    def _store_case_records(self, records: CaseRecords) -> None:
        """A case's bookkeeping batch; every part is idempotent, so a retried batch is too.

        Usually the whole batch is one transaction. Where that meets a conflict (the same
        payment applied under another record id, a concurrent retry of this batch, no prepared
        case), each record is stored on its own, as each part's own method decides."""
        for case_event in records.events:
            if case_event.kind == LEGAL_RECALLED:
                self._recall_legal_file(case_event, utc_iso(case_event.at))
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
        stored_payments: list[PaymentRecord] = []
        stored_events: list[CaseEvent] = []
        try:
            with self.store.session() as session:
                for record in records.payments:
                    if add_if_absent(session, _payment_row(record)):
                        stored_payments.append(record)
                for case_event in records.events:
                    row = _case_event_row(case_event)
                    if add_if_absent(session, row, then=_event_effect(case_event, row.at)):
                        stored_events.append(case_event)
                if records.snapshot is not None and not _apply_snapshot(session, records.snapshot):
                    raise _NoPreparedCase
        except (IntegrityError, _NoPreparedCase):
            return False
        for record in stored_payments:
            self._stored_payment(record)
        for case_event in stored_events:
            self._stored_case_event(case_event)
        return True

    def store_payment(self, record: PaymentRecord) -> None:
        try:
            inserted = self.store.insert_if_absent(_payment_row(record))
        except IntegrityError:
            if not self._applied_payment_exists(record):
                raise
            # The same payment applied under another record id: the money counts once.
            inserted = False
            metrics.observe_payment(record, result="duplicate")
        if inserted:
            self._stored_payment(record)

    def _stored_payment(self, record: PaymentRecord) -> None:
        metrics.observe_payment(record)
        log.info(
            "payment %s stored: loan_id=%s case_id=%s record_id=%s",
            record.status,
            record.loan_id,
            record.case_id,
            record.record_id,
        )

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
        row = _case_event_row(case_event)
        if case_event.kind == LEGAL_RECALLED:
            self._recall_legal_file(case_event, row.at)
        if self.store.insert_if_absent(row, then=_event_effect(case_event, row.at)):
            self._stored_case_event(case_event)

    def _stored_case_event(self, case_event: CaseEvent) -> None:
        metrics.observe_case_event(case_event)
        log.info(
            "case event %s: loan_id=%s case_id=%s",
            case_event.kind,
            case_event.loan_id,
            case_event.case_id,
        )

    def store_case_snapshot(self, snapshot: CaseSnapshot) -> None:
        with self.store.session() as session:
            if not _apply_snapshot(session, snapshot):
                raise ApplicationError(
                    f"case_id: no prepared case {snapshot.case_id!r}",
                    type=CASE_NOT_FOUND,
                    non_retryable=True,
                )


class _NoPreparedCase(Exception):
    """A snapshot names a case the database does not have: the batch is stored part by part."""


def _payment_row(record: PaymentRecord) -> PaymentRow:
    return PaymentRow(
        record_id=record.record_id,
        case_id=record.case_id,
        loan_id=record.loan_id,
        payment_id=record.payment_id,
        amount_minor=record.amount_minor,
        currency=record.currency,
        status=record.status,
        reason=record.reason,
        paid_at=record.paid_at,
        source=record.source,
        applied_minor=record.applied_minor,
        overpaid_minor=record.overpaid_minor,
        outstanding_after_minor=record.outstanding_after_minor,
        received_at=utc_iso(record.received_at),
    )


def _case_event_row(case_event: CaseEvent) -> CaseEventRow:
    return CaseEventRow(
        event_key=case_event.event_key,
        case_id=case_event.case_id,
        loan_id=case_event.loan_id,
        kind=case_event.kind,
        ref_id=case_event.ref_id,
        detail=json.dumps(case_event.detail, ensure_ascii=False, sort_keys=True),
        at=utc_iso(case_event.at),
    )


def _event_effect(case_event: CaseEvent, at: str) -> Callable[[Session], None] | None:
    """What a new case event changes besides its own row, in the same transaction."""
    if case_event.kind in (CONTACT_OUTCOME, VISIT_OUTCOME) and case_event.ref_id:
        return _outcome_effect(case_event, at)
    if case_event.kind == CALL_EXPIRED and case_event.ref_id:
        return _expire_work_item(case_event.ref_id)
    if case_event.kind == SKIP_TRACE_OPENED and case_event.ref_id:
        return _open_skip_trace(case_event, at)
    if case_event.kind == CONTACT_NOT_SENT and case_event.ref_id:
        return _unconfirm_attempt(case_event.ref_id.rsplit(":", 1)[0])
    return None


def _apply_snapshot(session: Session, snapshot: CaseSnapshot) -> bool:
    """Write the case's position to its row; False if there is no such case."""
    at = utc_iso(snapshot.at)
    row = session.get(CaseRow, snapshot.case_id)
    if row is None:
        return False
    # Snapshot activities may finish out of order; an older one must not win.
    if at < row.updated_at:
        return True
    row.stage = snapshot.stage
    row.status = snapshot.status
    row.days_past_due = snapshot.days_past_due
    row.outstanding_minor = snapshot.outstanding_minor
    row.paid_minor = snapshot.paid_minor
    row.updated_at = at
    if snapshot.status in FINAL_STATUSES:
        row.closed_at = row.closed_at or at
    else:
        row.closed_at = None
    session.add(row)
    _settle_open_work(session, snapshot.case_id, snapshot.status)
    return True


# What a case's open work (call tasks, booked visits) becomes with the case's status: a closed
# case's work is cancelled for good; a hold suspends it and a release brings it back.
OPEN_WORK: dict[type[WorkItemRow] | type[FieldVisitRow], str] = {
    WorkItemRow: "open",
    FieldVisitRow: "booked",
}
SUSPENDED = "suspended"
CANCELLED = "cancelled"


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


def planned_ladder(policy: Policy) -> list[str]:
    return [
        f"DPD {step.dpd} · {step.stage} · {step.channel} · {step.template}"
        for step in policy.ladder
    ]


@functools.lru_cache(maxsize=64)
def _policy(name: str) -> Policy:
    """The named policy, read once per process (a broken file is read again on the retry)."""
    try:
        return load_policy(name)
    except InvalidInput as error:
        if error.field == "policy":
            raise _invalid_case("policy", error.problem) from None
        # A broken policy file is the operator's to fix; retrying picks up the fixed file.
        raise ApplicationError(str(error), type="InvalidPolicyFile") from None


def _invalid_case(field: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{field}: {problem}", type=contracts.INVALID_CASE, non_retryable=True)


def _rejected(channel: str, status_code: int) -> ApplicationError:
    return ApplicationError(
        f"{channel} provider rejected the message (HTTP {status_code})",
        type=NOTIFICATION_REJECTED,
        non_retryable=True,
    )


def _loan_of(case_id: str, case_row: CaseRow | None) -> LoanFacts:
    """The loan's facts from the case's row, for a hand-off scheduled before requests carried
    them: preparation recorded the same facts there."""
    if case_row is None:
        raise ApplicationError(
            f"case_id: no prepared case {case_id!r}", type=CASE_NOT_FOUND, non_retryable=True
        )
    return LoanFacts(
        loan_id=case_row.loan_id,
        borrower_id=case_row.borrower_id,
        currency=case_row.currency,
        overdue_amount_minor=case_row.overdue_amount_minor,
        due_date=case_row.due_date,
        policy=case_row.policy,
        portfolio=case_row.portfolio,
    )


def _contact_detail(channel: str, borrower: BorrowerRow | None) -> str | None:
    """Where a contact on `channel` goes (a number, an address, a mailbox), if known."""
    if borrower is None:
        return None
    by_channel = {
        "sms": borrower.phone,
        "call": borrower.phone,
        "email": borrower.email,
        "letter": borrower.address,
        "field_visit": borrower.address,
    }
    return by_channel.get(channel)


def _body(request: ContactRequest, borrower: BorrowerRow | None, case: CaseRow | None) -> str:
    facts = NoticeFacts(
        loan_id=request.loan_id,
        borrower_name=borrower.name if borrower else None,
        # Without the borrower's row nothing is sent; the recorded text is in the default locale.
        locale=borrower.locale if borrower else Borrower.locale,
        days_past_due=request.days_past_due,
        outstanding_minor=request.outstanding_minor,
        currency=request.currency,
    )
    # The opt-out line unless the case's policy does without it (every shipped one has it).
    opt_out_notice = _policy(case.policy).opt_out_notice if case is not None else True
    return render_notice(request.template, request.channel, facts, opt_out_notice=opt_out_notice)


def _attempt_row(
    request: ContactRequest, *, recipient: str | None, status: str, body: str
) -> ContactAttemptRow:
    return ContactAttemptRow(
        attempt_id=request.attempt_id,
        case_id=request.case_id,
        loan_id=request.loan_id,
        channel=request.channel,
        template=request.template,
        recipient=recipient,
        body=body,
        status=status,
        result=RESULT_BY_STATUS.get(status),
        days_past_due=request.days_past_due,
        # The case's moment of the contact (workflow time), the one its caps count by.
        created_at=utc_iso(request.scheduled_at),
    )


def _result_of(row: ContactAttemptRow) -> ContactResult:
    if row.status == "failed":
        # A re-run after a permanent refusal gets the same refusal, not a second try.
        raise ApplicationError(
            f"{row.channel} provider rejected the message earlier",
            type=NOTIFICATION_REJECTED,
            non_retryable=True,
        )
    return ContactResult(
        attempt_id=row.attempt_id,
        result=RESULT_BY_STATUS[row.status],
        provider_ref=row.provider_ref,
        rule=row.note if row.status == "blocked" else None,
    )


def _open_skip_trace(case_event: CaseEvent, at: str) -> Callable[[Session], None]:
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


def _expire_work_item(work_item_id: str) -> Callable[[Session], None]:
    """A call task whose SLA passed with no outcome leaves the agents' open queue."""

    def apply(session: Session) -> None:
        item = session.get(WorkItemRow, work_item_id)
        if item is not None and item.status in ("open", "suspended"):
            item.status = "expired"
            session.add(item)

    return apply


def _unconfirm_attempt(attempt_id: str) -> Callable[[Session], None]:
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


def _outcome_effect(case_event: CaseEvent, at: str) -> Callable[[Session], None]:
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
        if case_event.kind == CONTACT_OUTCOME:
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
