"""What every part of `CollectionCase` shares: the run's state and settings, and the helpers
its handlers, its loop and its bookkeeping use (the moment of deciding, the state or the
error a message gets, days past due)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts
    from domain.case import parse_case_input
    from domain.case_records import Fact
    from domain.case_state import CaseState
    from domain.clock import calendar_days_past_due
    from domain.decisions import CaseSetup
    from domain.errors import InvalidInput
    from domain.timing import case_today

# Business errors are final; everything else (database down, provider 5xx) is retried.
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[contracts.INVALID_CASE, "NotificationRejected"],
)
# Preparation is a local activity: one database write in the worker's own process, no round
# trip through the task queue before the first contact. Bookkeeping is not: a local activity
# holds back its workflow task, and with it the answer to a payment, until the write is done.
DB_TIMEOUT = timedelta(seconds=30)
# On a busy task queue, a new case's first contact goes ahead of the routine work of cases
# already running (their next reminders, their bookkeeping), and bookkeeping goes last: a
# borrower newly overdue hears first, and nothing waits on a case-table write.
FIRST_CONTACT = Priority(priority_key=2)
BOOKKEEPING = Priority(priority_key=4)

Answer = TypeVar("Answer")


def answering(error_type: str, act: Callable[[], Answer]) -> Answer:
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


def decoded(value: RawValue) -> Any:
    """A signal argument as plain data, or None when it cannot be read."""
    try:
        return workflow.payload_converter().from_payload(value.payload)
    except Exception:  # an undecodable payload is kept as unreadable
        return None


# Every change to the workflow up to this one, as a case opened from now on takes them all: one
# marker (and one TemporalChangeVersion upsert) in its first workflow task instead of one of
# each at every change it reaches (CaseRun._changed). It stands for these changes and no other:
# a change made later is asked on its own, or a new bundle (a new id) takes it in.
ALL_CHANGES_SO_FAR = "all-changes-to-2026-12-04"
CHANGES_SO_FAR = frozenset(
    {
        "stage-follows-ladder",
        "audit-case-completed",
        "refused-sends-do-not-count",
        "calendar-days-past-due",
        "audit-deferrals",
        "contact-records-given-back",
        "call-task-sla",
        "assign-collector",
        "strategy-arm",
        "callback-request",
        "wrong-number-retires-phone",
        "visit-outcomes-act",
    }
)


class CaseRun:
    """The state of one run of a case (its domain state, plan, and the run's own counters)."""

    def _set_up(self, case: dict[str, Any], carried: dict[str, Any] | None) -> None:
        # Asked first, in the run's first workflow task: a run that began before this marker
        # existed replays without it, answers False for the whole run, and asks each change
        # on its own as it did; a run that begins now answers True and asks none of them.
        self._all_changes = workflow.patched(ALL_CHANGES_SO_FAR)
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
        self._setup: CaseSetup | None = None
        self._timezone = "UTC"
        self._opened_at = workflow.now()
        self._published: tuple[object, ...] = ()
        self._writing = False
        # Set when the case's position changed: the case table gets a snapshot.
        self._snapshot_due = bool(carried.get("snapshot_due")) if carried is not None else False
        # The moment the case decides at until its first timer or activity (see `run`).
        self._pinned_now: datetime | None = None
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

    def _now(self) -> datetime:
        return self._pinned_now or workflow.now()

    def _changed(self, change: str) -> bool:
        """`workflow.patched(change)`, answered without a marker of its own for a change of
        `CHANGES_SO_FAR` in a run that began with all of them: for it, it would be True."""
        if self._all_changes and change in CHANGES_SO_FAR:
            return True
        return workflow.patched(change)

    def _taking(self, error_type: str) -> CaseState:
        """The state, for an update handler about to take its message (counted against the
        updates one run may take), with its debt brought up to date."""
        self._updates_this_run += 1
        return self._accrued(self._require_state(error_type))

    def _accrued(self, state: CaseState) -> CaseState:
        """The state with the penalty of every day begun posted: whenever the case acts, so
        what it shows, sends and stores is its debt as of its latest decision. Before the case
        knows its policy (and its calendar) there is nothing to post."""
        if self._setup is not None:
            now = self._now()
            state.accrue(case_today(state, self._setup, now), now)
        return state

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
        if self._setup is not None:
            return self._setup.clock.days_past_due(moment)
        return calendar_days_past_due(state.case.due, moment, self._timezone)
