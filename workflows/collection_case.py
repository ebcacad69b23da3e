"""`CollectionCase`: one overdue loan, walked up the policy's escalation ladder.

The workflow carries out what `domain.decide` decides and holds no rule of its own: decide,
act, wait for the decided moment or a message, decide again. All I/O is in activities called
by name (their implementations import sqlmodel and httpx, which the sandbox must not load).

Message handlers (`workflows.case_messages`) are synchronous: a handler's check and its change
happen with no `await` in between, and the loop's last check (closed? on hold? inside the
window?) is `decide` itself, followed at once by the start of the contact's activity. What must
reach the case database is journalled by the domain and written by a background writer
(`workflows.case_bookkeeping`), so no handler and no contact waits for bookkeeping.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState

from workflows.case_assignment import CaseAssignment
from workflows.case_base import DB_TIMEOUT, FIRST_CONTACT, RETRY
from workflows.definition import defn_checked_once

with workflow.unsafe.imports_passed_through():
    import contracts
    from domain.case_records import Callback, Contact
    from domain.case_state import CaseState
    from domain.channels import CHANNEL_BY_NAME
    from domain.clock import case_clock
    from domain.debt import debt_terms
    from domain.decide import contact_still_stands, decide
    from domain.decisions import (
        CaseSetup,
        Close,
        Complete,
        Lapse,
        QueueCallback,
        RunStep,
        Skip,
        Wait,
    )
    from domain.routing import Strategy
    from domain.step_choice import stage_at
    from domain.step_plan import (
        FAILED,
        REFERRED,
        Made,
        StepPlan,
        Unsent,
        contact_failed,
        contact_made,
        plan_callback,
        plan_step,
        record_step_outcome,
    )

# A little above the provider's HTTP timeout (NOTIFY_TIMEOUT_SECONDS, 10 s), so a worker
# killed mid-send costs seconds, not minutes.
CONTACT_TIMEOUT = timedelta(seconds=20)
LEGAL_TIMEOUT = timedelta(minutes=2)


# `@workflow.defn`, its checks run when the worker imports this module and not again for each
# case the sandbox builds (workflows.definition).
@defn_checked_once(name="CollectionCase")
class CollectionCase(CaseAssignment):
    @workflow.init
    def __init__(self, case: dict[str, Any], carried: dict[str, Any] | None = None) -> None:
        self._set_up(case, carried)

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
        setup = self._setup = await self._prepared_setup(state, carried)
        if not carried or state.debt is None:
            state.set_debt_terms(
                debt_terms(setup.policy.accrual, state.case.terms, state.case.opening_parts)
            )
        if not state.closed and not carried:
            state.stage = "grace"
        # The case table got this position from preparation itself (or from the run before).
        self._published = self._position(state)
        # Added after cases were running: a case opened past its first steps began in
        # `grace` until its first contact, and stayed there while a promise paused it.
        if not state.closed and not carried and self._changed("stage-follows-ladder"):
            state.stage = stage_at(setup.policy, self._days_past_due())
        self._publish(state, first=True)
        writer = asyncio.create_task(self._write_journal())
        while True:
            if self._continue_as_new_due():
                await self._continue_as_new(case, state)
            await self._assign_if_due(state)
            decision = decide(self._accrued(state), setup, self._now())
            if isinstance(decision, Complete):
                break
            if isinstance(decision, Close):
                state.close(decision.status, self._now())
            elif isinstance(decision, Lapse):
                state.lapse(decision)
                self._publish(state)
            elif isinstance(decision, Skip):
                state.skip_step(decision.index, decision.why)
            elif isinstance(decision, RunStep):
                await self._run_step(state, decision)
            elif isinstance(decision, QueueCallback):
                await self._queue_callback(state, decision.callback)
            else:
                await self._wait(state, decision)
        # Added after cases were running: histories recorded before it have no such event.
        if self._changed("audit-case-completed"):
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

    async def _prepared_setup(self, state: CaseState, carried: dict[str, Any] | None) -> CaseSetup:
        """Prepare the case and fix its setup. A run carried over prepares again (idempotent:
        the case row keeps its first opening, and the borrower's details are written as of
        that opening, never over newer ones)."""
        opened_at = datetime.fromisoformat(carried["opened_at"]) if carried else workflow.now()
        prepared = await self._prepare(state, opened_at)
        self._timezone = prepared.timezone
        state.take_strategy(prepared.strategy or Strategy(policy=prepared.policy.name))
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
        return CaseSetup(
            refused_sends_count=not self._changed("refused-sends-do-not-count"),
            policy=prepared.policy,
            timezone=prepared.timezone,
            clock=case_clock(
                state.case.due,
                prepared.timezone,
                clock_start,
                prepared.policy.day_seconds,
                # Added after cases were running: they counted elapsed days, an hour off after
                # a change of the clocks.
                calendar=self._changed("calendar-days-past-due"),
            ),
        )

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
        if deferred is not None and self._changed("audit-deferrals"):
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

    # -- one ladder step ---------------------------------------------------------
    async def _run_step(self, state: CaseState, run: RunStep) -> None:
        """Carry out one ladder step as `domain.step_plan` plans it. Nothing awaits between
        `decide` and the activity's start; a contact that has not finished when the case
        closes, goes on hold or its amount changes is cancelled, and the step is decided
        again."""
        assert self._setup is not None
        if run.requeue_of is None:
            state.begin_step(run.index, run.step.stage, run.skipped, run.days_past_due)
        self._publish(state)
        # The step's own activity writes the bookkeeping so far: one round trip, not two. If the
        # activity does not run to the end, the records go back to the journal (every record
        # is idempotent by its key, so writing one twice is harmless).
        facts = self._take_facts(state)
        records = self._records(state, facts)
        step = plan_step(state, self._setup, run, case_id=self._case_id, now=self._now())
        handle = workflow.start_activity(
            contracts.ACTIVITY_FOR_WORK[CHANNEL_BY_NAME[step.channel].work],
            self._step_request(state, step, records),
            result_type=contracts.LegalHandOffResult if step.legal else contracts.ContactResult,
            start_to_close_timeout=LEGAL_TIMEOUT if step.legal else CONTACT_TIMEOUT,
            schedule_to_close_timeout=step.send_within,
            retry_policy=RETRY,
            # Wait for the cancellation to be settled, so the record says whether it left.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=step.summary,
            priority=FIRST_CONTACT if step.first_contact else Priority.default,
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
        try:
            result = await handle
            outcome = (
                contact_made(result.result, result.rule, result.retry_at)
                if isinstance(result, contracts.ContactResult)
                else Made(REFERRED)
            )
        except ActivityError as error:
            # Added after cases were running: their contacts' records were not given back.
            if self._changed("contact-records-given-back"):
                self._give_back(state, facts)
            outcome = contact_failed(
                final=error.retry_state == RetryState.NON_RETRYABLE_FAILURE,
                cancelled=isinstance(error.cause, CancelledError),
                run=run,
            )
        self._record_outcome(state, run, step, outcome)

    async def _queue_callback(self, state: CaseState, callback: Callback) -> None:
        """Queue the call task of a call back the borrower asked for, due at the moment asked
        for, through the ladder's own call activity (the work item in the agents' queue, under
        the caps over all of the borrower's loans, which count the call at that moment)."""
        assert self._setup is not None
        facts = self._take_facts(state)
        step = plan_callback(state, self._setup, callback, self._case_id)
        handle = workflow.start_activity(
            contracts.QUEUE_CALL,
            self._step_request(state, step, self._records(state, facts)),
            result_type=contracts.ContactResult,
            start_to_close_timeout=CONTACT_TIMEOUT,
            retry_policy=RETRY,
            summary=step.summary,
        )
        self._pinned_now = None
        try:
            result = await handle
            outcome = contact_made(result.result, result.rule, result.retry_at)
        except ActivityError:
            # Only a refusal for good ends the retries.
            self._give_back(state, facts)
            outcome = Made(FAILED)
        if isinstance(outcome, Unsent):
            state.callback_not_queued(
                callback.request_id, step.attempt_id, outcome.why, outcome.rule
            )
            return
        state.callback_queued(
            callback.request_id,
            Contact(
                attempt_id=step.attempt_id,
                channel=step.channel,
                template=step.template,
                # The call's moment, which caps and auditors count.
                at=step.scheduled_at.isoformat(),
                result=outcome.result,
                days_past_due=step.days_past_due,
            ),
            call_sla=step.call_sla,
        )

    def _record_outcome(
        self, state: CaseState, run: RunStep, step: StepPlan, outcome: Made | Unsent
    ) -> None:
        # Added after cases were running: calls queued before it keep no SLA.
        keep_call_sla = (
            isinstance(outcome, Made)
            and step.call_sla is not None
            and self._changed("call-task-sla")
        )
        # When it was made, which is what caps and auditors count.
        record_step_outcome(
            state, run, step, outcome, at=workflow.now(), keep_call_sla=keep_call_sla
        )

    def _step_request(
        self, state: CaseState, step: StepPlan, records: contracts.CaseRecords
    ) -> contracts.ContactRequest | contracts.LegalHandOffRequest:
        """The activity's input. It stays in the history for good: ids and loan facts only,
        the borrower by id (the activities read the contact details from the case database)."""
        if step.legal:
            return contracts.LegalHandOffRequest(
                case_id=self._case_id,
                referral_id=step.attempt_id,
                loan=contracts.LoanFacts.of(state.case),
                days_past_due=step.days_past_due,
                outstanding_minor=state.outstanding_minor,
                paid_minor=state.paid_minor,
                at=step.scheduled_at.isoformat(),
                records=records,
                balance=state.current_debt.parts.as_json(),
            )
        return contracts.ContactRequest(
            case_id=self._case_id,
            attempt_id=step.attempt_id,
            loan_id=state.case.loan_id,
            channel=step.channel,
            template=step.template,
            days_past_due=step.days_past_due,
            borrower_id=state.case.borrower.borrower_id,
            currency=state.case.currency,
            outstanding_minor=state.outstanding_minor,
            balance=state.current_debt.parts.as_json(),
            scheduled_at=step.scheduled_at.isoformat(),
            due_at=step.due_at.isoformat() if step.due_at else None,
            records=records,
        )
