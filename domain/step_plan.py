"""How one ladder step is carried out, decided before the workflow starts its activity, and
what the activity's result means for the case.

`plan_step` fixes the attempt id (the provider's idempotency key, so a step decided again
reuses it), the summary the operator sees, when a call task's SLA ends or a visit is booked
for, whether it is the case's first contact, and how long retries may go on; `plan_callback`
does the same for the call task of a call back the borrower asked for. `contact_made`
and `contact_failed` read the activity's result: a contact made (with its result, and the rule
that says the channel cannot reach the borrower), or one that did not leave (and when the
step may be decided again); `record_step_outcome` puts it on the case, for the workflow and
the simulator (`domain.simulation`) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.callbacks import CALL, CALLBACK_TEMPLATE
from domain.case_records import Callback, Contact
from domain.case_state import CaseState
from domain.channels import CHANNEL_BY_NAME
from domain.decisions import CaseSetup, RunStep
from domain.timing import call_sla, visit_slot

# Results of a contact a channel rule kept from leaving: blocked (opted out, undeliverable),
# deferred (a cap over all of the borrower's loans, until `retry_at`).
CONTACT_BLOCKED = "blocked"
CONTACT_DEFERRED = "deferred"
# The rule of a contact deferred because the provider asked us to wait (its Retry-After).
RETRY_AFTER_RULE = "retry_after"
# A legal hand-off that went through; a contact the provider refused for good.
REFERRED = "referred"
FAILED = "failed"


@dataclass(frozen=True)
class StepPlan:
    attempt_id: str
    channel: str
    template: str
    days_past_due: int
    # "SMS reminder 2 · DPD 7": the activity's summary in the UI.
    summary: str
    scheduled_at: datetime
    # When a call task's SLA ends (the work item's due time), or the visit's booked slot.
    due_at: datetime | None
    # A call task's SLA, kept with the task once it is queued.
    call_sla: timedelta | None
    # A new case's first contact goes ahead of the routine work of running cases.
    first_contact: bool
    # Retries never carry a contact past the close of its window.
    send_within: timedelta | None

    @property
    def legal(self) -> bool:
        return self.channel == "legal"


def plan_step(
    state: CaseState, setup: CaseSetup, run: RunStep, case_id: str, now: datetime
) -> StepPlan:
    step = run.step
    # Run ids are time-ordered (UUIDv7): their tail, not their head, tells cases apart.
    attempt_id = f"{state.case.loan_id}.{case_id[-8:]}.{run.index:02d}"
    if run.requeue_of is not None:
        attempt_id += f".r{state.requeue_number(run.requeue_of)}"
    number = 1 + sum(1 for c in state.contacts if c.channel == step.channel)
    sla = call_sla(setup) if step.channel == "call" else None
    return StepPlan(
        attempt_id=attempt_id,
        channel=step.channel,
        template=step.template,
        days_past_due=run.days_past_due,
        summary=f"{CHANNEL_BY_NAME[step.channel].label} {number} · DPD {run.days_past_due}",
        scheduled_at=now,
        due_at=(
            now + sla
            if sla is not None
            else visit_slot(setup, now)
            if step.channel == "field_visit"
            else None
        ),
        call_sla=sla,
        first_contact=not state.contacts,
        send_within=(run.deadline - now) if run.deadline else None,
    )


def plan_callback(state: CaseState, setup: CaseSetup, callback: Callback, case_id: str) -> StepPlan:
    """The call task of a call back, planned as a ladder call's is, but for the moment asked
    for: the agent's contact is then (the caps count it then), its task due then, and its script
    states the days past due of then."""
    days_past_due = setup.clock.days_past_due(callback.at)
    return StepPlan(
        attempt_id=f"{state.case.loan_id}.{case_id[-8:]}.cb{callback.number}",
        channel=CALL,
        template=CALLBACK_TEMPLATE,
        days_past_due=days_past_due,
        summary=f"Call back {callback.number} · DPD {days_past_due}",
        scheduled_at=callback.at,
        due_at=callback.at,
        call_sla=call_sla(setup),
        first_contact=False,
        send_within=None,
    )


@dataclass(frozen=True)
class Made:
    """The contact was made (or refused for good): `result` goes on record; `blocked_by` is
    the rule by which its channel cannot reach the borrower, if it was blocked."""

    result: str
    blocked_by: str | None = None


@dataclass(frozen=True)
class Unsent:
    """The contact did not leave: on record with `why` (and `rule`); the step is decided
    again, not before `not_before`."""

    why: str
    not_before: datetime | None
    rule: str | None = None


def contact_made(result: str, rule: str | None, retry_at: str | None) -> Made | Unsent:
    """What a contact's result means. Deferred: a cap counted over all of the borrower's
    loans holds it back (another loan used it up), or the provider asked us to wait."""
    if result == CONTACT_DEFERRED:
        return Unsent(
            "deferred by the provider's Retry-After"
            if rule == RETRY_AFTER_RULE
            else "deferred by a cap over the borrower's loans",
            not_before=datetime.fromisoformat(retry_at) if retry_at else None,
            rule=rule,
        )
    if result == CONTACT_BLOCKED:
        return Made(result, blocked_by=rule or CONTACT_BLOCKED)
    return Made(result)


def contact_failed(*, final: bool, cancelled: bool, run: RunStep) -> Made | Unsent:
    """What an activity that failed means: a provider's final refusal is part of the record
    (the ladder goes on); cancelled (a hold, a payment, the close) or retried until its window
    closed, it did not leave."""
    if final:
        return Made(FAILED)
    if cancelled:
        return Unsent("cancelled", not_before=None)
    return Unsent("window closed", not_before=run.deadline)


def record_step_outcome(
    state: CaseState,
    run: RunStep,
    step: StepPlan,
    outcome: Made | Unsent,
    *,
    at: datetime,
    keep_call_sla: bool,
) -> None:
    """Put a step's outcome on the case: a contact that did not leave is on record and the
    step is decided again; a contact made (at `at`, when caps and auditors count it) moves the
    ladder on, a call task gets its SLA (`keep_call_sla`: calls queued before SLAs kept none),
    and a channel that cannot reach the borrower is passed over from now on."""
    if isinstance(outcome, Unsent):
        state.note_unsent(
            step.attempt_id, outcome.why, not_before=outcome.not_before, rule=outcome.rule
        )
        return
    state.finish_step(
        run.index,
        Contact(
            attempt_id=step.attempt_id,
            channel=step.channel,
            template=step.template,
            at=at.isoformat(),
            result=outcome.result,
            days_past_due=run.days_past_due,
        ),
        call_sla=step.call_sla if keep_call_sla else None,
        requeue_of=run.requeue_of,
    )
    if outcome.blocked_by is not None:
        # The channel cannot reach the borrower: later reminders use another one.
        state.note_unreachable(step.channel, outcome.blocked_by)
