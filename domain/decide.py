"""What a case does next: one pure function of its state, its policy and the time.

The workflow's loop is: decide, carry the decision out, wait for the decided moment or a
message, decide again. Every rule of timing lives here (the ladder and its catch-up, holds,
the contact window and caps, bucket boundaries, write-off, the linger of a closed case), so it
is unit-tested without a Temporal server.

A case never wakes on a daily tick: it sleeps until the next moment at which something is due
(a ladder step at an allowed contact time, a bucket boundary so `CollectionBucket` is never
stale, write-off, the end of the linger) or until a message arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.caps import CONTACT_WINDOW, Deferred, EarlierContact, check_contact
from domain.case_state import CallTask, CaseState
from domain.clock import SECONDS_PER_DAY, CaseClock, bucket
from domain.contact_rules import window_closes_at
from domain.policy import STAGES, LadderStep, Policy

# Bucket boundaries in days past due: M1 from 1, M2 from 31, M3 from 61, M4+ from 91.
BUCKET_STARTS = (1, 31, 61, 91)
# A contact may start no later than this before its window closes, so that an attempt started
# last (its HTTP call bounded well below this) still ends inside the window.
SEND_MARGIN = timedelta(seconds=30)
# Results of a contact attempt that count against the channel's caps: all but these.
COUNTED_RESULTS_EXCLUDED = ("skipped_no_contact", "blocked")
# A call's result once its outcome is recorded: somebody answered (the borrower, in all but
# `wrong_number`, so that was a conversation with them), or nobody did.
CONVERSATION_RESULTS = ("reached", "refused", "promised", "disputed")
CONNECTED_RESULTS = (*CONVERSATION_RESULTS, "wrong_number")
UNANSWERED_RESULTS = ("no_answer",)
# Why a step waits after a contact that did not leave (on record already, with its reason).
AFTER_UNSENT = "after an unsent contact"


@dataclass(frozen=True)
class CasePlan:
    """What preparation fixed for the case: its policy snapshot, timezone and clock."""

    policy: Policy
    timezone: str
    clock: CaseClock


@dataclass(frozen=True)
class RunStep:
    """Run ladder step `index` now; `skipped` steps were overtaken (a late case, a lifted hold).

    A contact must have started its last attempt by `deadline` (shortly before today's contact
    window closes), so that a retried SMS never goes out at 23:00; past it the step is decided
    again, for the next window.
    """

    index: int
    step: LadderStep
    skipped: tuple[int, ...]
    days_past_due: int
    outstanding_minor: int
    deadline: datetime | None
    # A call task re-queued because this expired one got no outcome within its SLA.
    requeue_of: str | None = None


@dataclass(frozen=True)
class Skip:
    """Ladder step `index` cannot be carried out (a call with no usable phone): pass it."""

    index: int
    why: str


@dataclass(frozen=True)
class Wait:
    """Nothing is due before `until`; `reason` names what is due then (shown on the timer).
    `deferred`: a step due now that a rule (the window, a cap) holds back until then."""

    until: datetime
    reason: str
    deferred: Deferral | None = None


@dataclass(frozen=True)
class Deferral:
    """A step due now, held back by `rule` (a name of `domain.caps`): the audit log says so."""

    step_index: int
    channel: str
    rule: str


@dataclass(frozen=True)
class Close:
    status: str


@dataclass(frozen=True)
class Complete:
    """The closed case's linger is over: the workflow ends."""


@dataclass(frozen=True)
class Lapse:
    """A commitment's time ran out unkept: `kind` is `promise`, `plan` or `settlement`."""

    kind: str


Decision = RunStep | Wait | Close | Complete | Lapse | Skip


def decide(state: CaseState, plan: CasePlan, now: datetime) -> Decision:
    policy, clock = plan.policy, plan.clock
    if state.closed:
        assert state.closed_at is not None
        until = linger_end(state, policy)
        return Complete() if now >= until else Wait(until, f"closed {state.status}: linger")
    days_past_due = clock.days_past_due(now)
    # A case keeping to an installment plan is performing: it is not written off meanwhile.
    in_plan = state.active_plan is not None
    if days_past_due >= policy.write_off_dpd and not in_plan:
        return Close("written_off")
    write_off = None if in_plan else Wait(clock.start_of(policy.write_off_dpd), "write-off")
    boundary = _next_bucket_boundary(clock, days_past_due)
    lapsing = commitment_deadlines(state, plan)
    for kind, deadline in lapsing:
        if now >= deadline.until:
            return Lapse(kind)
    deadlines = [deadline for _kind, deadline in lapsing]
    open_calls = [t for t in state.call_tasks.values() if t.state in ("open", "awaiting_promise")]

    def may_requeue(task: CallTask) -> bool:
        return (
            task.requeues < policy.commitments.call_requeue_limit
            and not state.phone_unusable
            and not state.on_hold
            and not deadlines
        )

    # A task's SLA wakes the case only when the task would come back to the queue; one that
    # would not is marked expired at the case's next wake (its work item shows its due time).
    call_slas = [
        Wait(task.due_at, f"call task {task.attempt_id} SLA")
        for task in open_calls
        if may_requeue(task)
    ]
    for task in open_calls:
        if now < task.due_at:
            continue
        requeue = may_requeue(task)
        if not requeue:
            return Lapse(f"call {task.attempt_id}")
        step = policy.ladder[task.step_index]
        allowed_at, rule = _allowed_at(state, plan, step, now)
        if allowed_at > now:
            waiting = Wait(
                allowed_at,
                f"call task {task.attempt_id} re-queue · {rule}",
                _deferral(task.step_index, step, rule),
            )
            return _earliest(waiting, boundary, write_off, *deadlines)
        return RunStep(
            index=task.step_index,
            step=step,
            skipped=(),
            days_past_due=days_past_due,
            outstanding_minor=state.outstanding_minor,
            deadline=_deadline(plan, step, now),
            requeue_of=task.attempt_id,
        )
    rules = policy.commitments
    on_site_waits = []
    for booking in state.visits.values():
        if booking.state == "paid_on_site" and booking.outcome_at is not None:
            expected_by = booking.outcome_at + timedelta(
                seconds=rules.paid_on_site_days * policy.day_seconds
            )
            if now >= expected_by:
                return Lapse(f"visit {booking.visit_id}")
            on_site_waits.append(Wait(expected_by, f"payment after visit {booking.visit_id}"))
        elif booking.state == "not_home":
            if booking.rebooks >= rules.visit_rebook_limit:
                return Lapse(f"visit {booking.visit_id}")
            if not state.on_hold and not deadlines:
                step = policy.ladder[booking.step_index]
                allowed_at, rule = _allowed_at(state, plan, step, now)
                if allowed_at > now:
                    waiting = Wait(
                        allowed_at,
                        f"visit {booking.visit_id} re-booking · {rule}",
                        _deferral(booking.step_index, step, rule),
                    )
                    return _earliest(waiting, boundary, write_off, *deadlines, *call_slas)
                return RunStep(
                    index=booking.step_index,
                    step=step,
                    skipped=(),
                    days_past_due=days_past_due,
                    outstanding_minor=state.outstanding_minor,
                    deadline=_deadline(plan, step, now),
                    requeue_of=booking.visit_id,
                )
    call_slas += on_site_waits
    if state.on_hold:
        return _earliest(boundary, write_off, *deadlines, *call_slas, reason_prefix="on hold · ")
    if deadlines:
        # A borrower keeping a commitment is not chased meanwhile.
        return _earliest(
            boundary, write_off, *deadlines, *call_slas, reason_prefix="contact paused · "
        )
    choice = _resumed(state, policy, choose_step(policy.ladder, state.next_step, days_past_due))
    if choice.run is not None and state.phone_unusable:
        unusable = policy.ladder[choice.run]
        if unusable.channel == "call" or (
            unusable.channel == "sms" and not state.case.borrower.email
        ):
            return Skip(choice.run, f"{unusable.channel}: the phone is unusable (wrong number)")
    if choice.run is not None:
        step = _usable(state, policy.ladder[choice.run])
        allowed_at, rule = _allowed_at(state, plan, step, now)
        if allowed_at <= now:
            return RunStep(
                index=choice.run,
                step=step,
                skipped=tuple(choice.skipped),
                days_past_due=days_past_due,
                outstanding_minor=state.outstanding_minor,
                deadline=_deadline(plan, step, now),
            )
        waiting = Wait(
            allowed_at,
            f"{step.channel}: {step.template} · {rule}",
            _deferral(choice.run, step, rule),
        )
        return _earliest(waiting, boundary, write_off, *call_slas)
    if state.next_step < len(policy.ladder):
        step = _usable(state, policy.ladder[state.next_step])
        allowed_at, rule = _allowed_at(state, plan, step, max(now, clock.start_of(step.dpd)))
        # A step due at night waits for the window as a matter of course; a cap is news.
        held = f" · {rule}" if rule and rule != CONTACT_WINDOW else ""
        upcoming = Wait(allowed_at, f"{step.channel}: {step.template} · DPD {step.dpd}{held}")
        return _earliest(upcoming, boundary, write_off, *call_slas)
    return _earliest(boundary, write_off, *call_slas)


def call_sla(plan: CasePlan) -> timedelta:
    """How long an agent has for a call task, in the case's days."""
    return timedelta(seconds=plan.policy.commitments.call_sla_days * plan.policy.day_seconds)


def visit_slot(plan: CasePlan, now: datetime) -> datetime:
    """When a field visit is booked for: a daytime slot, 10:00 in the borrower's timezone on
    the next day (on a fast clock, one case day ahead)."""
    if plan.policy.day_seconds != SECONDS_PER_DAY:
        return now + timedelta(seconds=plan.policy.day_seconds)
    local = now.astimezone(ZoneInfo(plan.timezone))
    return datetime.combine(local.date() + timedelta(days=1), time(10), tzinfo=local.tzinfo)


# Where a written reminder goes when its channel cannot reach the borrower, in order.
FALLBACK_CHANNELS = {"sms": ("email", "letter"), "email": ("sms", "letter"), "letter": ()}


def _usable(state: CaseState, step: LadderStep) -> LadderStep:
    """The step as it can be carried out: with the phone unusable, an SMS reminder falls back
    to email; on a channel that cannot reach the borrower (opted out, or refused by the
    provider for good), a reminder falls back to the next channel that can."""
    if state.phone_unusable and step.channel == "sms" and state.case.borrower.email:
        return replace(step, channel="email")
    if step.channel not in state.unreachable_channels:
        return step
    borrower = state.case.borrower
    detail = {"sms": borrower.phone, "email": borrower.email, "letter": borrower.address}
    unusable = {*state.unreachable_channels, *(("sms",) if state.phone_unusable else ())}
    for channel in FALLBACK_CHANNELS.get(step.channel, ()):
        if channel not in unusable and detail[channel]:
            return replace(step, channel=channel)
    return step


@dataclass(frozen=True)
class StepChoice:
    run: int | None
    skipped: list[int]


def choose_step(ladder: list[LadderStep], next_index: int, days_past_due: int) -> StepChoice:
    """Catch up to the current rung instead of replaying history.

    Steps run in ladder order. When several are due at once (a case opened late, or a hold
    just lifted) only the latest one runs and the earlier ones are skipped: a borrower at
    DPD 40 gets today's action, not a burst of stale reminders.
    """
    due = [index for index in range(next_index, len(ladder)) if ladder[index].dpd <= days_past_due]
    if not due:
        return StepChoice(run=None, skipped=[])
    return StepChoice(run=due[-1], skipped=due[:-1])


def _resumed(state: CaseState, policy: Policy, choice: StepChoice) -> StepChoice:
    """After a broken plan, collection resumes at the stage where the plan began: the latest
    due step of that stage (or an earlier one) runs first, not the latest step of all."""
    if choice.run is None or state.resume_stage not in STAGES:
        return choice
    limit = STAGES.index(state.resume_stage)
    due = [
        index
        for index in (*choice.skipped, choice.run)
        if STAGES.index(policy.ladder[index].stage) <= limit
    ]
    return StepChoice(run=due[-1], skipped=due[:-1]) if due else choice


def case_today(state: CaseState, plan: CasePlan, now: datetime) -> date:
    """Today in the case's calendar (a `demo` day is two seconds): the date that commitments'
    due dates are compared with."""
    return state.case.due + timedelta(days=plan.clock.days_past_due(now))


def end_of_day(state: CaseState, plan: CasePlan, day: date) -> datetime:
    """The end of `day` in the case's calendar and the borrower's timezone."""
    return plan.clock.start_of((day - state.case.due).days + 1)


def commitment_deadlines(state: CaseState, plan: CasePlan) -> list[tuple[str, Wait]]:
    """(kind, when) each pending commitment lapses if unkept: a promise at the end of its due
    date plus the promise grace, the next installment at the end of its due date plus the plan
    grace, a settlement at the end of its due date."""
    rules = plan.policy.commitments
    deadlines = []
    if (promise := state.pending_promise) is not None:
        day = promise.due_date + timedelta(days=rules.promise_grace_days)
        deadlines.append(
            ("promise", Wait(end_of_day(state, plan, day), f"promise {promise.promise_id} due"))
        )
    if (active := state.active_plan) is not None and (installment := active.next_due()):
        day = installment.due_date + timedelta(days=rules.plan_grace_days)
        deadlines.append(
            (
                "plan",
                Wait(end_of_day(state, plan, day), f"plan installment due {installment.due_date}"),
            )
        )
    if (settlement := state.pending_settlement) is not None:
        deadlines.append(
            (
                "settlement",
                Wait(
                    end_of_day(state, plan, settlement.due_date),
                    f"settlement {settlement.settlement_id} due",
                ),
            )
        )
    return deadlines


def contact_still_stands(state: CaseState, run: RunStep) -> bool:
    """May a contact that has not finished yet still go out? Not once the case is closed or on
    hold, and not with an amount that a payment has since changed (it is decided again, so the
    message states the amount at the moment it is sent). A legal hand-off is not a contact."""
    if state.closed:
        return False
    if run.step.channel == "legal":
        return True
    paused = state.pending_promise or state.active_plan or state.pending_settlement
    return not state.on_hold and not paused and state.outstanding_minor == run.outstanding_minor


def linger_end(state: CaseState, policy: Policy) -> datetime:
    assert state.closed_at is not None
    days = policy.recovery_days if state.final_status == "written_off" else policy.linger_days
    return state.closed_at + timedelta(seconds=days * policy.day_seconds)


def _allowed_at(
    state: CaseState, plan: CasePlan, step: LadderStep, earliest: datetime
) -> tuple[datetime, str]:
    """The first moment at or after `earliest` when the step may run, and the rule that holds
    it back until then (`caps.py`'s name, "" if none): a legal hand-off at once; a contact
    inside the borrower's contact window, with time left to end inside it, and within the
    policy's caps counted over this case's own contacts."""
    if step.channel == "legal":
        return earliest, ""
    held_by = ""
    if state.not_before is not None and state.not_before > earliest:
        earliest, held_by = state.not_before, AFTER_UNSENT
    verdict = check_contact(
        step.channel,
        earliest,
        policy=plan.policy,
        timezone=plan.timezone,
        contacts=earlier_contacts(state),
        margin=SEND_MARGIN,
    )
    if isinstance(verdict, Deferred):
        return verdict.until, verdict.rule
    return earliest, held_by


def earlier_contacts(state: CaseState) -> list[EarlierContact]:
    """The case's contacts as the caps count them (a call to the case's one phone number)."""
    return [
        earlier_contact(contact.channel, datetime.fromisoformat(contact.at), contact.result)
        for contact in state.contacts
        if contact.result not in COUNTED_RESULTS_EXCLUDED
    ]


def earlier_contact(
    channel: str, at: datetime, result: str | None, *, number: str | None = None
) -> EarlierContact:
    """One contact as the caps count it; a call's result says whether it connected and
    whether it was a conversation (unknown until the agent records the outcome)."""
    return EarlierContact(
        channel=channel,
        at=at,
        connected=(
            True if result in CONNECTED_RESULTS else False if result in UNANSWERED_RESULTS else None
        ),
        conversation=result in CONVERSATION_RESULTS,
        number=number,
    )


def _deadline(plan: CasePlan, step: LadderStep, now: datetime) -> datetime | None:
    window = plan.policy.contact_window
    if step.channel == "legal" or window is None:
        return None
    return window_closes_at(now, timezone=plan.timezone, window=window) - SEND_MARGIN


def _next_bucket_boundary(clock: CaseClock, days_past_due: int) -> Wait | None:
    start = next((dpd for dpd in BUCKET_STARTS if dpd > days_past_due), None)
    if start is None:
        return None
    return Wait(clock.start_of(start), f"bucket {bucket(start)} · DPD {start}")


def _earliest(*waits: Wait | None, reason_prefix: str = "") -> Wait:
    first = min((wait for wait in waits if wait is not None), key=lambda wait: wait.until)
    return Wait(first.until, reason_prefix + first.reason, first.deferred)


def _deferral(index: int, step: LadderStep, rule: str) -> Deferral | None:
    """What the audit log records of a step held back: a rule's, not a re-decision's wait."""
    if not rule or rule == AFTER_UNSENT:
        return None
    return Deferral(index, step.channel, rule)
