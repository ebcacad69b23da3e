"""The case's bookkeeping beside its process: the journal written to the case database in
batches, the case's position shown in the UI (search attributes, current details), and the
hand-over to a new run (continue-as-new) before Temporal's limits on one run."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

from workflows import search_attributes as attrs
from workflows.case_base import BOOKKEEPING, DB_TIMEOUT, CaseRun

with workflow.unsafe.imports_passed_through():
    import contracts
    from domain.audit import AuditFact
    from domain.case_details import case_details
    from domain.case_records import Fact, PaymentFact
    from domain.case_state import CaseState
    from domain.clock import bucket

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


class CaseBookkeeping(CaseRun):
    # -- the journal -------------------------------------------------------------
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
                self._note_bookkeeping_problem(error, failures, pause)
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

    def _note_bookkeeping_problem(
        self, error: ActivityError, failures: int, pause: timedelta
    ) -> None:
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
        case_id, loan_id = self._case_id, state.case.loan_id
        return contracts.CaseRecords(
            case_id=case_id,
            loan_id=loan_id,
            payments=[
                contracts.PaymentRecord.of(fact, case_id=case_id, loan_id=loan_id, now=now)
                for fact in facts
                if isinstance(fact, PaymentFact)
            ],
            events=[
                contracts.CaseEvent.of(fact, case_id=case_id, loan_id=loan_id, now=now)
                for fact in facts
                if isinstance(fact, AuditFact)
            ],
            snapshot=contracts.CaseSnapshot(
                case_id=case_id,
                loan_id=loan_id,
                stage=state.stage,
                status=state.status,
                days_past_due=self._days_past_due(),
                outstanding_minor=state.outstanding_minor,
                paid_minor=state.paid_minor,
                at=now,
                balance=state.current_debt.parts.as_json(),
                balance_as_of=state.balance_as_of,
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

    # -- the position in the UI --------------------------------------------------
    def _position(self, state: CaseState) -> tuple[object, ...]:
        # The outstanding amount moves with every change to the debt's parts (accrual, a
        # payment, an adjustment), so the case table's balance by part follows it too.
        days_past_due = self._days_past_due()
        return (state.stage, state.status, bucket(days_past_due), state.outstanding_minor)

    def _publish(self, state: CaseState, *, first: bool = False) -> None:
        """Show the case's position in the UI (search attributes, details) when it changed,
        and have the case table follow. No await: it never delays a decision."""
        days_past_due = self._days_past_due()
        position = self._position(state)
        workflow.set_current_details(
            case_details(state, days_past_due, self._timezone, self._bookkeeping_problem)
        )
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
            arm = state.strategy.arm_label if state.strategy else None
            # Added after cases were running; only a case in an experiment has an arm.
            if arm is not None and self._changed("strategy-arm"):
                updates.append(attrs.ARM.value_set(arm))
            if state.assignee is not None:
                # A run carried over shows who is responsible as its first act too.
                updates.append(attrs.ASSIGNEE.value_set(state.assignee))
        workflow.upsert_search_attributes(updates)
