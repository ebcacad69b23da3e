"""`CollectionCase`: one overdue loan, walked up the policy's escalation ladder.

The workflow carries out what `domain.decide` decides and holds no rule of its own: decide,
act, wait for the decided moment or a message, decide again. All I/O is in activities called
by name (their implementations import sqlmodel and httpx, which the sandbox must not load).

Message handlers are synchronous: a handler's check and its change happen with no `await` in
between, and the loop's last check (closed? on hold? inside the window?) is `decide` itself,
followed at once by the start of the contact's activity. What must reach the case database is
journalled by the domain and written by a background writer, so no handler and no contact
waits for bookkeeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState

with workflow.unsafe.imports_passed_through():
    import contracts
    from domain.case import parse_case_input
    from domain.case_state import AuditFact, CaseState, Contact, Fact, PaymentFact
    from domain.clock import bucket, calendar_days_past_due, case_clock
    from domain.commitments import (
        CommitmentRules,
        parse_plan,
        parse_promise,
        parse_settlement,
    )
    from domain.decide import (
        CasePlan,
        Close,
        Complete,
        Lapse,
        RunStep,
        Skip,
        Wait,
        call_sla,
        case_today,
        contact_still_stands,
        decide,
        visit_slot,
    )
    from domain.errors import InvalidInput
    from domain.messages import (
        parse_contact_outcome,
        parse_hold,
        parse_hold_release,
        parse_legal_event,
        parse_visit_outcome,
    )
    from domain.money import format_money
    from domain.payments import parse_payment
    from workflows import search_attributes as attrs

# Business errors are final; everything else (database down, provider 5xx) is retried.
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[contracts.INVALID_CASE, "NotificationRejected"],
)
# Preparation is a local activity: one database write in the worker's own process, no round
# trip through the task queue before the first contact. Bookkeeping is not: a local activity
# holds back its workflow task, and with it the answer to a payment, until the write is done.
DB_TIMEOUT = timedelta(seconds=30)
# A little above the provider's HTTP timeout (NOTIFY_TIMEOUT_SECONDS, 10 s), so a worker
# killed mid-send costs seconds, not minutes.
CONTACT_TIMEOUT = timedelta(seconds=20)
LEGAL_TIMEOUT = timedelta(minutes=2)
ACTIVITY_FOR_CHANNEL = {
    "sms": contracts.SEND_NOTICE,
    "email": contracts.SEND_NOTICE,
    "letter": contracts.SEND_NOTICE,
    "call": contracts.QUEUE_CALL,
    "field_visit": contracts.BOOK_FIELD_VISIT,
    "legal": contracts.HAND_OFF_TO_LEGAL,
}
CHANNEL_LABEL = {
    "sms": "SMS reminder",
    "email": "Email reminder",
    "letter": "Letter",
    "call": "Call task",
    "field_visit": "Field visit",
    "legal": "Legal hand-off",
}
# On a busy task queue, a new case's first contact goes ahead of the routine work of cases
# already running (their next reminders, their bookkeeping), and bookkeeping goes last: a
# borrower newly overdue hears first, and nothing waits on a case-table write.
FIRST_CONTACT = Priority(priority_key=2)
BOOKKEEPING = Priority(priority_key=4)
PAYMENT_SIGNAL = "payment_received"
PLAN_SIGNAL = "plan_received"
# A bookkeeping batch carries at most this many records, and about this many bytes, so that no
# activity input grows with a flood of messages (thousands of rejected signals once made one
# too slow to serialise) and each stays well within the namespace's blob limit; the rest waits
# for the next batch. About 100 rejected signals fit one batch.
JOURNAL_BATCH = 1000
JOURNAL_BATCH_BYTES = 64 * 1024
RECORD_OVERHEAD_BYTES = 256
# A batch the database refused is kept and tried again, after a pause that grows to the last.
BOOKKEEPING_TRIES = RetryPolicy(
    maximum_attempts=3,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[contracts.INVALID_CASE],
)
BOOKKEEPING_PAUSES = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
)
# A case continues as new well before Temporal's limits on one run (51,200 events or 50 MB of
# history, 10,000 signals, 2,000 updates), whenever the server suggests it (by default at
# 4,096 events or 4 MB), and in any case at these marks.
HISTORY_EVENTS_MAX = 10_000
HISTORY_BYTES_MAX = 20 * 1024 * 1024
SIGNALS_MAX = 5_000
UPDATES_MAX = 1_000
# What the next run takes over (compressed) must fit one payload well within the namespace's
# blob limit (128 KB on the dev server, see settings.DEV_SERVER_LIMITS); more unwritten records
# than that are written first.
CARRY_BYTES_MAX = 96 * 1024

Answer = TypeVar("Answer")


def _answering(error_type: str, act: Callable[[], Answer]) -> Answer:
    """Run a domain check or change for a message; bad input or a conflicting id becomes an
    `ApplicationError` naming the field. A handler raises nothing else: any other exception
    would fail the workflow task again and again."""
    try:
        return act()
    except InvalidInput as error:
        raise ApplicationError(str(error), type=error_type, non_retryable=True) from None
    except Exception as error:
        workflow.logger.exception("message handler failed")
        raise ApplicationError(
            f"the case could not take this message: {error}", type=error_type, non_retryable=True
        ) from None


def _decoded(value: RawValue) -> Any:
    """A signal argument as plain data, or None when it cannot be read."""
    try:
        return workflow.payload_converter().from_payload(value.payload)
    except Exception:  # an undecodable payload is kept as unreadable
        return None


@workflow.defn(name="CollectionCase")
class CollectionCase:
    @workflow.init
    def __init__(self, case: dict[str, Any], carried: dict[str, Any] | None = None) -> None:
        # Messages may arrive before `run` starts, so the state is built here from the input,
        # or taken over from the run before when the case continued as new.
        self._invalid: InvalidInput | None = None
        self._state: CaseState | None = None
        self._carried = carried
        if carried is not None:
            self._state = CaseState.restored(carried["state"])
        else:
            try:
                self._state = CaseState(parse_case_input(case, now=workflow.now()))
            except InvalidInput as error:
                self._invalid = error
        self._case_id = workflow.info().first_execution_run_id
        self._plan: CasePlan | None = None
        self._timezone = "UTC"
        self._published: tuple[object, ...] = ()
        self._writing = False
        # Set when the case's position changed: the case table gets a snapshot.
        self._snapshot_due = False
        # The moment the case decides at until its first timer or activity (see `run`).
        self._pinned_now: datetime | None = None
        if carried is not None:
            self._snapshot_due = bool(carried.get("snapshot_due"))
        # Messages taken in this run, against Temporal's limits per run.
        self._signals_this_run = 0
        self._updates_this_run = 0
        # Why the last bookkeeping batch failed, while it is being tried again (for the UI).
        self._bookkeeping_problem: str | None = None
        # Set while the case hands over to its next run: the writer takes no new batch.
        self._handing_over = False
        # The batch the writer's activity is writing: carried over too if the case hands over
        # before it is done (writing a record twice is harmless).
        self._in_flight: list[Fact] = []

    # -- the process -------------------------------------------------------------
    @workflow.run
    async def run(
        self, case: dict[str, Any], carried: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self._state is None:
            raise ApplicationError(
                str(self._invalid), type=contracts.INVALID_CASE, non_retryable=True
            )
        state = self._state
        # A run carried over prepares again (idempotent: the case row keeps its first opening,
        # and the borrower's details are written as of that opening, never over newer ones).
        opened_at = datetime.fromisoformat(carried["opened_at"]) if carried else workflow.now()
        prepared = await self._prepare(state, opened_at)
        self._timezone = prepared.timezone
        # Workflow time around the preparation (a local activity) is not the same in a replay
        # as it was live when the preparation outlasted its workflow task: a case deciding by
        # it could decide otherwise on a worker that replays it. So the case's clock counts
        # from its opening, and its first decision is taken at its opening too; every later
        # one follows a timer, an activity or a message, whose time is recorded.
        # The moment of opening comes back in the preparation's result, which the history
        # records, so every replay reads the same one. A case prepared before results carried
        # it goes on as it began (no patch marker is needed: the result itself tells them apart,
        # and a marker beside a local activity's is not replayed in its place).
        if carried:
            # Its clock still counts from the opening; it decides at the time of this run.
            clock_start = datetime.fromisoformat(carried["opened_at"])
        elif prepared.opened_at:
            clock_start = self._pinned_now = datetime.fromisoformat(prepared.opened_at)
        else:
            clock_start = workflow.now()
        self._opened_at = clock_start
        plan = CasePlan(
            policy=prepared.policy,
            timezone=prepared.timezone,
            clock=case_clock(
                state.case.due, prepared.timezone, clock_start, prepared.policy.day_seconds
            ),
        )
        self._plan = plan
        if not state.closed and not carried:
            state.stage = "grace"
        # The case table got this position from preparation itself (or from the run before).
        self._published = self._position(state)
        self._publish(state, first=True)
        writer = asyncio.create_task(self._write_journal())
        while True:
            if self._continue_as_new_due():
                await self._continue_as_new(case, state)
            decision = decide(state, plan, self._now())
            if isinstance(decision, Complete):
                break
            if isinstance(decision, Close):
                state.close(decision.status, self._now())
            elif isinstance(decision, Lapse):
                state.lapse(decision.kind)
                self._publish(state)
            elif isinstance(decision, Skip):
                state.skip_step(decision.index, decision.why)
            elif isinstance(decision, RunStep):
                await self._run_step(state, decision)
            else:
                await self._wait(state, decision)
        # Added after cases were running: histories recorded before it have no such event.
        if workflow.patched("audit-case-completed"):
            state.complete()
        self._publish(state)
        # Every journalled record reaches the database, and every update has its answer,
        # before the case completes.
        await workflow.wait_condition(
            lambda: not state.journal and not self._snapshot_due and not self._writing
        )
        writer.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.status_view(self._days_past_due())

    async def _prepare(self, state: CaseState, opened_at: datetime) -> contracts.PreparedCase:
        try:
            prepared: contracts.PreparedCase = await workflow.execute_local_activity(
                contracts.PREPARE_CASE,
                contracts.PrepareRequest(
                    case_id=self._case_id,
                    workflow_id=workflow.info().workflow_id,
                    case=state.case,
                    opened_at=opened_at.isoformat(),
                ),
                result_type=contracts.PreparedCase,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=RETRY,
                summary=f"Prepare case · policy {state.case.policy}",
            )
            return prepared
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == contracts.INVALID_CASE:
                raise ApplicationError(
                    cause.message, type=contracts.INVALID_CASE, non_retryable=True
                ) from error
            raise

    async def _wait(self, state: CaseState, decision: Wait) -> None:
        deferred = decision.deferred
        # Added after cases were running: their histories record no deferrals.
        if deferred is not None and workflow.patched("audit-deferrals"):
            state.note_deferred(
                deferred.step_index, deferred.channel, deferred.rule, decision.until
            )
        state.next_action = {"kind": decision.reason, "due_at": decision.until.isoformat()}
        self._publish(state)
        seen = state.revision
        timeout = max(decision.until - self._now(), timedelta(milliseconds=1))
        self._pinned_now = None
        with suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: state.revision != seen or self._continue_as_new_due(),
                timeout=timeout,
                timeout_summary=decision.reason,
            )

    async def _run_step(self, state: CaseState, run: RunStep) -> None:
        """Carry out one ladder step. Nothing awaits between `decide` and the activity's
        start; a contact that has not finished when the case closes, goes on hold or its
        amount changes is cancelled, and the step is decided again."""
        step = run.step
        assert self._plan is not None
        plan = self._plan
        if run.requeue_of is None:
            state.begin_step(run.index, step.stage, run.skipped, run.days_past_due)
        self._publish(state)
        # The step's own activity writes the bookkeeping so far: one round trip, not two. If the
        # activity does not run to the end, the records go back to the journal (every record
        # is idempotent by its key, so writing one twice is harmless).
        facts = self._take_facts(state)
        records = self._records(state, facts)
        # Run ids are time-ordered (UUIDv7): their tail, not their head, tells cases apart.
        # The id is the provider's idempotency key, so a step decided again reuses it.
        attempt_id = f"{state.case.loan_id}.{self._case_id[-8:]}.{run.index:02d}"
        if run.requeue_of is not None:
            attempt_id += f".r{state.requeue_number(run.requeue_of)}"
        number = 1 + sum(1 for c in state.contacts if c.channel == step.channel)
        summary = f"{CHANNEL_LABEL[step.channel]} {number} · DPD {run.days_past_due}"
        now = self._now()
        # Activity inputs stay in the history for good: ids and loan facts only, the borrower
        # by id (the activities read the contact details from the case database).
        request: contracts.ContactRequest | contracts.LegalHandOffRequest
        if step.channel == "legal":
            request = contracts.LegalHandOffRequest(
                case_id=self._case_id,
                referral_id=attempt_id,
                loan=contracts.LoanFacts.of(state.case),
                days_past_due=run.days_past_due,
                outstanding_minor=state.outstanding_minor,
                paid_minor=state.paid_minor,
                at=now.isoformat(),
                records=records,
            )
        else:
            request = contracts.ContactRequest(
                case_id=self._case_id,
                attempt_id=attempt_id,
                loan_id=state.case.loan_id,
                channel=step.channel,
                template=step.template,
                days_past_due=run.days_past_due,
                borrower_id=state.case.borrower.borrower_id,
                currency=state.case.currency,
                outstanding_minor=state.outstanding_minor,
                scheduled_at=now.isoformat(),
                due_at=(
                    (now + call_sla(plan)).isoformat()
                    if step.channel == "call"
                    else visit_slot(plan, now).isoformat()
                    if step.channel == "field_visit"
                    else None
                ),
                records=records,
            )
        handle = workflow.start_activity(
            ACTIVITY_FOR_CHANNEL[step.channel],
            request,
            result_type=(
                contracts.LegalHandOffResult if step.channel == "legal" else contracts.ContactResult
            ),
            start_to_close_timeout=LEGAL_TIMEOUT if step.channel == "legal" else CONTACT_TIMEOUT,
            # Retries never carry a contact past the close of its window.
            schedule_to_close_timeout=(run.deadline - now) if run.deadline else None,
            retry_policy=RETRY,
            # Wait for the cancellation to be settled, so the record says whether it left.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=summary,
            priority=FIRST_CONTACT if not state.contacts else Priority.default,
        )
        self._pinned_now = None
        # A case due to continue as new hands over first: the step is decided again in the next
        # run, under the same attempt id.
        await workflow.wait_condition(
            lambda: (
                handle.done() or not contact_still_stands(state, run) or self._continue_as_new_due()
            )
        )
        if not handle.done():
            handle.cancel()
        blocked_by: str | None = None
        try:
            outcome = await handle
            result = outcome.result if isinstance(outcome, contracts.ContactResult) else "referred"
            if (
                isinstance(outcome, contracts.ContactResult)
                and result == contracts.CONTACT_DEFERRED
            ):
                # A cap counted over all of the borrower's loans holds it back (another loan
                # used it up), or the provider asked us to wait: it did not leave, and the step
                # is decided again when allowed.
                state.note_unsent(
                    attempt_id,
                    "deferred by the provider's Retry-After"
                    if outcome.rule == contracts.RETRY_AFTER_RULE
                    else "deferred by a cap over the borrower's loans",
                    not_before=(
                        datetime.fromisoformat(outcome.retry_at) if outcome.retry_at else None
                    ),
                    rule=outcome.rule,
                )
                return
            if isinstance(outcome, contracts.ContactResult) and result == contracts.CONTACT_BLOCKED:
                blocked_by = outcome.rule or contracts.CONTACT_BLOCKED
        except ActivityError as error:
            # Added after cases were running: their contacts' records were not given back.
            if workflow.patched("contact-records-given-back"):
                self._give_back(state, facts)
            if error.retry_state != RetryState.NON_RETRYABLE_FAILURE:
                # Cancelled (a hold, a payment, the close), or retried until its window
                # closed: it did not leave, and the step is decided again.
                if isinstance(error.cause, CancelledError):
                    state.note_unsent(attempt_id, "cancelled", not_before=None)
                else:
                    state.note_unsent(attempt_id, "window closed", not_before=run.deadline)
                return
            # A provider's final refusal is part of the record; the ladder goes on.
            result = "failed"
        state.finish_step(
            run.index,
            Contact(
                attempt_id=attempt_id,
                channel=step.channel,
                template=step.template,
                # When it was made, which is what caps and auditors count.
                at=workflow.now().isoformat(),
                result=result,
                days_past_due=run.days_past_due,
            ),
            # Added after cases were running: calls queued before it keep no SLA.
            call_sla=(
                call_sla(plan)
                if step.channel == "call" and workflow.patched("call-task-sla")
                else None
            ),
            requeue_of=run.requeue_of,
        )
        if blocked_by is not None:
            # The channel cannot reach the borrower: later reminders use another one.
            state.note_unreachable(step.channel, blocked_by)

    # -- bookkeeping -------------------------------------------------------------
    async def _write_journal(self) -> None:
        """Write what the domain journalled to the case database, in batches, beside the
        process: handlers answer and contacts go out without waiting for it. A batch the
        database refuses (down, or a worker pointed at another database) goes back to the
        journal and is tried again after a pause; the case shows the problem meanwhile."""
        state = self._require_state("CaseNotOpened")
        failures = 0
        while True:
            await workflow.wait_condition(
                lambda: (bool(state.journal) or self._snapshot_due) and not self._handing_over
            )
            self._writing = True
            facts = self._in_flight = self._take_facts(state)
            records = self._records(state, facts)
            try:
                await workflow.execute_activity(
                    contracts.STORE_CASE_RECORDS,
                    records,
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=BOOKKEEPING_TRIES,
                    summary=f"Case records · {state.status}",
                    priority=BOOKKEEPING,
                )
            except ActivityError as error:
                self._give_back(state, facts)
                pause = BOOKKEEPING_PAUSES[min(failures, len(BOOKKEEPING_PAUSES) - 1)]
                failures += 1
                cause = str(error.cause) if error.cause is not None else str(error)
                self._bookkeeping_problem = (
                    f"case records not written ({failures} failed batches; "
                    f"{cause[:200]}); next try in {int(pause.total_seconds())} s"
                )
                workflow.logger.warning(
                    "case records not written, kept for another try in %s s (%s failed): %s",
                    int(pause.total_seconds()),
                    failures,
                    cause[:200],
                )
                self._publish(state)
                self._writing = False
                await workflow.sleep(pause, summary="Case records kept for another try")
                continue
            finally:
                self._writing = False
                self._in_flight = []
            if failures:
                failures = 0
                self._bookkeeping_problem = None
                self._publish(state)

    def _take_facts(self, state: CaseState) -> list[Fact]:
        """Up to one batch of what the domain journalled, oldest first, each stamped with the
        moment it was first taken (a batch written again keeps it)."""
        now = workflow.now().isoformat()
        facts: list[Fact] = []
        size = 0
        for fact in state.journal[:JOURNAL_BATCH]:
            facts.append(fact if fact.at is not None else dataclasses.replace(fact, at=now))
            # The record's JSON is about the fact's repr and the ids and names every record
            # carries (measured: under 200 bytes with a 64-character loan id).
            size += len(repr(fact)) + RECORD_OVERHEAD_BYTES
            if size >= JOURNAL_BATCH_BYTES:
                break
        del state.journal[: len(facts)]
        return facts

    def _give_back(self, state: CaseState, facts: list[Fact]) -> None:
        """Records an activity did not (surely) write go back to the head of the journal, and
        the case's position is written again with them."""
        state.journal[:0] = facts
        self._snapshot_due = True

    def _records(self, state: CaseState, facts: list[Fact]) -> contracts.CaseRecords:
        """Journalled facts, and the case's position when it changed, as one batch for the
        database."""
        self._snapshot_due = False
        now = workflow.now().isoformat()
        payments = [
            contracts.PaymentRecord(
                case_id=self._case_id,
                record_id=fact.record_id,
                loan_id=state.case.loan_id,
                payment_id=fact.payment_id,
                amount_minor=fact.amount_minor,
                currency=fact.currency,
                status=fact.status,
                received_at=fact.at or now,
                paid_at=fact.paid_at,
                source=fact.source,
                reason=fact.reason,
                applied_minor=fact.applied_minor,
                overpaid_minor=fact.overpaid_minor,
                outstanding_after_minor=fact.outstanding_after_minor,
            )
            for fact in facts
            if isinstance(fact, PaymentFact)
        ]
        events = [
            contracts.CaseEvent(
                case_id=self._case_id,
                event_key=f"{self._case_id}:{fact.kind}:{fact.ref_id}",
                loan_id=state.case.loan_id,
                kind=fact.kind,
                at=fact.at or now,
                ref_id=fact.ref_id,
                detail=fact.detail,
            )
            for fact in facts
            if isinstance(fact, AuditFact)
        ]
        return contracts.CaseRecords(
            case_id=self._case_id,
            loan_id=state.case.loan_id,
            payments=payments,
            events=events,
            snapshot=contracts.CaseSnapshot(
                case_id=self._case_id,
                loan_id=state.case.loan_id,
                stage=state.stage,
                status=state.status,
                days_past_due=self._days_past_due(),
                outstanding_minor=state.outstanding_minor,
                paid_minor=state.paid_minor,
                at=now,
            ),
        )

    # -- continue-as-new ---------------------------------------------------------
    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= HISTORY_EVENTS_MAX
            or info.get_current_history_size() >= HISTORY_BYTES_MAX
            or self._signals_this_run >= SIGNALS_MAX
            or self._updates_this_run >= UPDATES_MAX
        )

    async def _continue_as_new(self, case: dict[str, Any], state: CaseState) -> None:
        """Hand the case over to a new run with its whole state: its answers (so a message
        sent again is answered as the first time), its open work, and what the database has
        not yet got. Nothing awaits between taking the state and handing it over, so no
        message can slip in between; a message that reaches this run after it completed goes
        to the next one."""
        self._handing_over = True
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            # A batch still being written is carried too: the case does not wait for it.
            carried = {
                "state": dataclasses.replace(
                    state, journal=[*self._in_flight, *state.journal]
                ).carried(),
                "opened_at": self._opened_at.isoformat(),
                "snapshot_due": self._snapshot_due or bool(self._in_flight),
            }
            size = len(str(carried["state"]))
            if size <= CARRY_BYTES_MAX:
                break
            # Too much not yet written to carry over: one more batch is written first.
            if not self._writing:
                self._handing_over = False
                await workflow.wait_condition(lambda: self._writing)
                self._handing_over = True
            await workflow.wait_condition(lambda: not self._writing)
        workflow.logger.info(
            "case continues as new: %s events, %s bytes of history, %s signals, %s updates, "
            "%s bytes carried",
            workflow.info().get_current_history_length(),
            workflow.info().get_current_history_size(),
            self._signals_this_run,
            self._updates_this_run,
            size,
        )
        workflow.continue_as_new(args=[case, carried])

    def _position(self, state: CaseState) -> tuple[object, ...]:
        days_past_due = self._days_past_due()
        return (state.stage, state.status, bucket(days_past_due), state.outstanding_minor)

    def _publish(self, state: CaseState, *, first: bool = False) -> None:
        """Show the case's position in the UI (search attributes, details) when it changed,
        and have the case table follow. No await: it never delays a decision."""
        days_past_due = self._days_past_due()
        position = self._position(state)
        workflow.set_current_details(self._details(state, days_past_due, self._bookkeeping_problem))
        if position == self._published and not first:
            return
        if position != self._published:
            self._snapshot_due = True
        self._published = position
        updates: list[SearchAttributeUpdate[Any]] = [
            attrs.STAGE.value_set(state.stage),
            attrs.STATUS.value_set(state.status),
            attrs.BUCKET.value_set(bucket(days_past_due)),
            attrs.OUTSTANDING_MINOR.value_set(state.outstanding_minor),
        ]
        if first:
            # Any client may start a case; the static attributes are set here once.
            case = state.case
            updates += [
                attrs.LOAN_ID.value_set(case.loan_id),
                attrs.POLICY.value_set(case.policy),
                attrs.PORTFOLIO.value_set(case.portfolio),
                attrs.DUE_DATE.value_set(
                    datetime.combine(case.due, datetime.min.time(), tzinfo=workflow.now().tzinfo)
                ),
            ]
        workflow.upsert_search_attributes(updates)

    # -- payments ----------------------------------------------------------------
    @workflow.update
    def record_payment(self, payment: Any) -> dict[str, Any]:
        state = self._taking("InvalidPayment")
        answer = _answering(
            "InvalidPayment",
            lambda: state.take_payment(
                parse_payment(payment, case_currency=state.case.currency, now=workflow.now()),
                workflow.now(),
            ),
        )
        self._publish(state)
        return answer

    @record_payment.validator
    def _validate_payment(self, payment: Any) -> None:
        state = self._require_state("InvalidPayment")
        _answering(
            "InvalidPayment",
            lambda: state.check_payment(
                parse_payment(payment, case_currency=state.case.currency, now=workflow.now())
            ),
        )

    @workflow.signal(dynamic=True)
    def _on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Signals take any number of arguments of any type: a payment signal that cannot be
        read is kept in `rejected_payments` with the reason, never fails a workflow task."""
        self._signals_this_run += 1
        state = self._state
        if state is None:
            return
        if name == PLAN_SIGNAL:
            raw_plan = _decoded(args[0]) if len(args) == 1 else None
            try:
                if len(args) != 1:
                    raise InvalidInput("plan", f"takes one argument, got {len(args)}")
                rules, today = self._commitment_terms()
                state.take_plan(parse_plan(raw_plan), rules, today)
            except InvalidInput as error:
                state.reject_plan(raw_plan, str(error))
            except Exception as error:  # whatever it holds, a plan signal is kept
                state.reject_plan(raw_plan, f"plan: cannot be read ({type(error).__name__})")
            self._publish(state)
            return
        if name != PAYMENT_SIGNAL:
            workflow.logger.warning("unknown signal %r ignored", name[:64])
            return
        raw: Any = None
        try:
            if len(args) != 1:
                raise InvalidInput("payment", f"takes one argument, got {len(args)}")
            raw = workflow.payload_converter().from_payload(args[0].payload)
            payment = parse_payment(raw, case_currency=state.case.currency, now=workflow.now())
            state.take_payment(payment, workflow.now())
        except InvalidInput as error:
            state.reject_payment(raw, str(error), record_id=f"rejected-{workflow.uuid4()}")
        except Exception as error:  # an undecodable payload is a rejection too
            state.reject_payment(
                raw,
                f"payment: cannot be read ({type(error).__name__})",
                record_id=f"rejected-{workflow.uuid4()}",
            )
        self._publish(state)

    # -- commitments: promises, plans, settlements ---------------------------------
    def _commitment_terms(self) -> tuple[CommitmentRules, date]:
        """The policy's commitment rules and today in the case's calendar; a commitment can
        only be judged once the case is prepared (it knows its policy from then on)."""
        state = self._require_state("CaseNotOpened")
        if self._plan is None:
            raise InvalidInput("case", "the case is still being prepared: send it again")
        return self._plan.policy.commitments, case_today(state, self._plan, workflow.now())

    @workflow.update
    def promise_to_pay(self, promise: Any) -> dict[str, Any]:
        state = self._taking("InvalidPromise")
        answer = _answering(
            "InvalidPromise",
            lambda: state.take_promise(parse_promise(promise), *self._commitment_terms()),
        )
        self._publish(state)
        return answer

    @promise_to_pay.validator
    def _validate_promise(self, promise: Any) -> None:
        state = self._require_state("InvalidPromise")
        _answering(
            "InvalidPromise",
            lambda: state.check_promise(parse_promise(promise), *self._commitment_terms()),
        )

    @workflow.update
    def propose_plan(self, plan: Any) -> dict[str, Any]:
        state = self._taking("InvalidPlan")
        answer = _answering(
            "InvalidPlan", lambda: state.take_plan(parse_plan(plan), *self._commitment_terms())
        )
        self._publish(state)
        return answer

    @propose_plan.validator
    def _validate_plan(self, plan: Any) -> None:
        state = self._require_state("InvalidPlan")
        _answering(
            "InvalidPlan", lambda: state.check_plan(parse_plan(plan), *self._commitment_terms())
        )

    @workflow.update
    def agree_settlement(self, settlement: Any) -> dict[str, Any]:
        state = self._taking("InvalidSettlement")
        answer = _answering(
            "InvalidSettlement",
            lambda: state.take_settlement(parse_settlement(settlement), *self._commitment_terms()),
        )
        self._publish(state)
        return answer

    @agree_settlement.validator
    def _validate_settlement(self, settlement: Any) -> None:
        state = self._require_state("InvalidSettlement")
        _answering(
            "InvalidSettlement",
            lambda: state.check_settlement(parse_settlement(settlement), *self._commitment_terms()),
        )

    # -- holds, outcomes, legal events -------------------------------------------
    @workflow.update
    def place_hold(self, hold: Any) -> dict[str, Any]:
        state = self._taking("InvalidHold")
        answer = _answering(
            "InvalidHold", lambda: state.place_hold(parse_hold(hold), workflow.now())
        )
        self._publish(state)
        return answer

    @place_hold.validator
    def _validate_hold(self, hold: Any) -> None:
        state = self._require_state("InvalidHold")
        _answering("InvalidHold", lambda: state.check_hold(parse_hold(hold)))

    @workflow.update
    def release_hold(self, release: Any) -> dict[str, Any]:
        state = self._taking("InvalidHold")
        answer = _answering("InvalidHold", lambda: state.release_hold(parse_hold_release(release)))
        self._publish(state)
        return answer

    @release_hold.validator
    def _validate_release(self, release: Any) -> None:
        state = self._require_state("InvalidHold")
        _answering("InvalidHold", lambda: state.check_release(parse_hold_release(release)))

    @workflow.update
    def record_contact_outcome(self, outcome: Any) -> dict[str, Any]:
        state = self._taking("InvalidOutcome")
        answer = _answering(
            "InvalidOutcome",
            lambda: state.record_outcome(
                parse_contact_outcome(outcome),
                "call",
                workflow.now(),
                # Added after cases were running: a wrong number recorded before it changed
                # nothing else.
                outcome_acts=workflow.patched("wrong-number-retires-phone"),
            ),
        )
        self._publish(state)
        return answer

    @record_contact_outcome.validator
    def _validate_contact_outcome(self, outcome: Any) -> None:
        state = self._require_state("InvalidOutcome")
        _answering(
            "InvalidOutcome", lambda: state.check_outcome(parse_contact_outcome(outcome), "call")
        )

    @workflow.update
    def record_visit_outcome(self, outcome: Any) -> dict[str, Any]:
        state = self._taking("InvalidOutcome")
        return _answering(
            "InvalidOutcome",
            lambda: state.record_outcome(
                parse_visit_outcome(outcome),
                "field_visit",
                workflow.now(),
                # Added after cases were running: visit outcomes recorded before it asked
                # for nothing more.
                outcome_acts=workflow.patched("visit-outcomes-act"),
            ),
        )

    @record_visit_outcome.validator
    def _validate_visit_outcome(self, outcome: Any) -> None:
        state = self._require_state("InvalidOutcome")
        _answering(
            "InvalidOutcome",
            lambda: state.check_outcome(parse_visit_outcome(outcome), "field_visit"),
        )

    @workflow.update
    def record_legal_event(self, event: Any) -> dict[str, Any]:
        state = self._taking("InvalidLegalEvent")
        return _answering(
            "InvalidLegalEvent",
            lambda: state.record_legal_event(parse_legal_event(event), workflow.now()),
        )

    @record_legal_event.validator
    def _validate_legal_event(self, event: Any) -> None:
        state = self._require_state("InvalidLegalEvent")
        _answering("InvalidLegalEvent", lambda: state.check_legal_event(parse_legal_event(event)))

    # -- query -------------------------------------------------------------------
    @workflow.query
    def status(self) -> dict[str, Any]:
        state = self._require_state("CaseNotOpened")
        # A sleeping case's workflow time is that of its last activation; a query changes no
        # history, so it may read the wall clock to state today's days past due.
        with workflow.unsafe.sandbox_unrestricted():
            today = datetime.now(UTC)
        return state.status_view(max(self._days_past_due(), self._days_past_due(today)))

    # -- helpers -----------------------------------------------------------------
    def _now(self) -> datetime:
        return self._pinned_now or workflow.now()

    def _taking(self, error_type: str) -> CaseState:
        """The state, for an update handler about to take its message (counted against the
        updates one run may take)."""
        self._updates_this_run += 1
        return self._require_state(error_type)

    def _require_state(self, error_type: str) -> CaseState:
        if self._state is None:
            raise ApplicationError(
                f"the case was never opened: {self._invalid}", type=error_type, non_retryable=True
            )
        return self._state

    def _days_past_due(self, at: datetime | None = None) -> int:
        """Days past due now, or at closing for a closed case (its DPD stops there)."""
        state = self._require_state("CaseNotOpened")
        moment = state.closed_at or at or self._now()
        if self._plan is not None:
            return self._plan.clock.days_past_due(moment)
        return calendar_days_past_due(state.case.due, moment, self._timezone)

    @staticmethod
    def _details(state: CaseState, days_past_due: int, problem: str | None = None) -> str:
        # Shown in the Temporal UI: ids and amounts only, never the borrower's personal data.
        currency = state.case.currency
        lines = [
            f"**Loan {state.case.loan_id}** · stage **{state.stage}** · status **{state.status}**",
            "",
            f"DPD **{days_past_due}** ({bucket(days_past_due)}) · "
            f"outstanding **{format_money(state.outstanding_minor, currency)}** · "
            f"paid {format_money(state.paid_minor, currency)}",
        ]
        if state.holds:
            kinds = ", ".join(sorted({hold.kind for hold in state.holds.values()}))
            lines.append(f"On hold: {kinds}")
        if problem:
            lines.append(f"**Bookkeeping:** {problem}")
        if state.next_action:
            lines.append(f"Next: {state.next_action['kind']} at {state.next_action['due_at']}")
        if state.contacts:
            lines += ["", "Last contacts:"]
            lines += [
                f"- DPD {c.days_past_due} · {c.channel} · {c.template} · {c.result}"
                for c in state.contacts[-3:]
            ]
        return "\n".join(lines)
