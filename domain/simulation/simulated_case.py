"""One simulated case, run as `workflows.collection_case.CollectionCase` runs a real one.

The workflow's loop, with its activities replaced by the simulator's model of them (`Sending`):
post the penalty of the days begun, decide, carry the decision out (close, lapse, skip, run a
step), and when the decision is to wait, sleep until its moment or until a message changes
what the case does next (its `revision`). A message is taken as the workflow's handler takes
it: the debt brought up to date, then the update (`domain.case_updates`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.case import CaseInput
from domain.case_state import CaseState
from domain.case_updates import Moment, take_update
from domain.clock import case_clock
from domain.debt import debt_terms
from domain.decide import decide
from domain.decisions import CaseSetup, Close, Complete, Lapse, QueueCallback, RunStep, Skip
from domain.policy import Policy
from domain.routing import Strategy
from domain.step_choice import stage_at
from domain.step_plan import Made, StepPlan, Unsent, plan_step, record_step_outcome
from domain.timing import case_today

# The shortest sleep of the workflow (a decided moment already past).
LEAST_WAIT = timedelta(milliseconds=1)
# Decisions taken at one moment without a wait between them: a case that decides this often
# in a row would loop forever (a mistake in a rule), and is stopped with an error instead.
DECISIONS_AT_ONCE_MAX = 1000

# How a step's contact goes out (the simulator's stand-in for the contact activities).
Sending = Callable[[StepPlan], Made | Unsent]


class SimulatedCase:
    """A case opened at `opened_at`, under `policy`, known by the run id `case_id`."""

    def __init__(self, case: CaseInput, policy: Policy, opened_at: datetime, case_id: str) -> None:
        self.case_id = case_id
        opened_at = opened_at.astimezone(UTC)
        self.state = CaseState(case)
        # As preparation chooses it: the policy simulated, whatever the loan's own says.
        self.state.take_strategy(Strategy(policy=policy.name))
        # The preparation's choice: the borrower's timezone, else the policy's.
        timezone = case.borrower.timezone or policy.default_timezone
        self.setup = CaseSetup(
            policy=policy,
            timezone=timezone,
            clock=case_clock(case.due, timezone, opened_at, policy.day_seconds),
        )
        self.state.set_debt_terms(debt_terms(policy.accrual, case.terms, case.opening_parts))
        self.state.stage = stage_at(policy, self.setup.clock.days_past_due(opened_at))
        self.seen_revision = self.state.revision
        # When the case wakes next, unless a message wakes it first; None once it completed.
        self.wakes_at: datetime | None = opened_at

    @property
    def completed(self) -> bool:
        return self.wakes_at is None

    def today(self, now: datetime) -> date:
        """Today in the case's calendar."""
        return case_today(self.state, self.setup, now)

    def _accrue(self, now: datetime) -> None:
        self.state.accrue(self.today(now), now)

    def run(self, now: datetime, send: Sending) -> None:
        """Decide and act at `now` until the case waits (`wakes_at`) or completes."""
        # In UTC, as `workflow.now()` is: an instant in a zone's own tzinfo adds and subtracts
        # by the wall clock, which across a change of the clocks is an hour off.
        now = now.astimezone(UTC)
        state = self.state
        for _ in range(DECISIONS_AT_ONCE_MAX):
            self._accrue(now)
            decision = decide(state, self.setup, now)
            if isinstance(decision, Complete):
                self.wakes_at = None
                return
            if isinstance(decision, Close):
                state.close(decision.status, now)
            elif isinstance(decision, Lapse):
                state.lapse(decision)
            elif isinstance(decision, Skip):
                state.skip_step(decision.index, decision.why)
            elif isinstance(decision, RunStep):
                self._run_step(decision, now, send)
            elif isinstance(decision, QueueCallback):
                # Only a borrower's own page asks for one; no simulated borrower does.
                raise RuntimeError(f"case {state.case.loan_id}: a call back is not simulated")
            else:
                self.seen_revision = state.revision
                self.wakes_at = max(decision.until.astimezone(UTC), now + LEAST_WAIT)
                return
        raise RuntimeError(
            f"case {state.case.loan_id} decided {DECISIONS_AT_ONCE_MAX} times at {now}"
        )

    def _run_step(self, run: RunStep, now: datetime, send: Sending) -> None:
        if run.requeue_of is None:
            self.state.begin_step(run.index, run.step.stage, run.skipped, run.days_past_due)
        step = plan_step(self.state, self.setup, run, case_id=self.case_id, now=now)
        outcome = send(step)
        record_step_outcome(
            self.state,
            run,
            step,
            outcome,
            at=now,
            keep_call_sla=isinstance(outcome, Made) and step.call_sla is not None,
        )

    def take(self, update: str, body: dict[str, Any], now: datetime) -> bool:
        """Take a message at `now`; True if it changed what the case does next (the case must
        then decide again at once, as the workflow does). Raises `InvalidInput` for a message
        the case refuses (the real case's update would be rejected, and nothing changes)."""
        now = now.astimezone(UTC)
        self._accrue(now)
        moment = Moment(now=now, today=self.today(now), rules=self.setup.policy.commitments)
        take_update(self.state, update, body, moment)
        return self.state.revision != self.seen_revision
