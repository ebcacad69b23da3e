"""What a case does next: one pure function of its state, its policy and the time.

The workflow's loop is: decide, carry the decision out, wait for the decided moment or a
message, decide again. Every rule of timing lives here (the ladder and its catch-up, holds,
the contact window and caps, bucket boundaries, write-off, the linger of a closed case), so it
is unit-tested without a Temporal server.

A case never wakes on a daily tick: it sleeps until the next moment at which something is due
(a ladder step at an allowed contact time, a bucket boundary so `CollectionBucket` is never
stale, write-off, the end of the linger) or until a message arrives.

`decide` tries its rules in the order of `RULES`; each returns a decision or None (it does not
apply), and the first decision wins:

1. `closed_case`: a closed case lingers, then completes;
2. `write_off`: past the write-off DPD (not while keeping to a plan) the case is written off;
3. `commitment_lapsed`: a promise, plan installment or settlement whose time ran out lapses;
4. `callback_asked`: a call back the borrower asked for gets its call task, due then;
5. `call_task_due`: a call task past its SLA is re-queued (a call back's never is), or expires;
6. `visit_due`: a visit not home is re-booked, or settled; a payment promised on site that
   did not come settles the visit;
7. `on_hold`: a held case waits for what is due regardless (a boundary, write-off, a deadline);
8. `paused`: a borrower keeping a commitment is not chased meanwhile (a call back they asked
   for still comes);
9. `due_step`: the ladder step due now runs (or is skipped, or waits for its window and caps);
10. `next_step`: otherwise the case sleeps until the next step, boundary or deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.caps import CONTACT_WINDOW
from domain.case_records import CallTask
from domain.case_state import CaseState
from domain.decisions import (
    CaseSetup,
    Close,
    Complete,
    Decision,
    Lapse,
    LapseKind,
    QueueCallback,
    RunStep,
    Skip,
    Wait,
)
from domain.policy import LadderStep
from domain.step_choice import choose_step, resumed, usable
from domain.timing import (
    allowed_at,
    commitment_deadlines,
    deferral,
    earliest,
    linger_end,
    next_bucket_boundary,
    step_deadline,
)


@dataclass(frozen=True)
class Situation:
    """What every rule reads: the case, its setup, the moment, and the waits that stand
    whatever else is due (bucket boundary, write-off, commitment deadlines, SLAs)."""

    state: CaseState
    setup: CaseSetup
    now: datetime
    days_past_due: int
    # None while the case keeps to an installment plan (it is not written off meanwhile).
    write_off: Wait | None
    boundary: Wait | None
    lapsing: list[tuple[LapseKind, Wait]]

    @classmethod
    def of(cls, state: CaseState, setup: CaseSetup, now: datetime) -> Situation:
        clock = setup.clock
        days_past_due = clock.days_past_due(now)
        in_plan = state.active_plan is not None
        return cls(
            state=state,
            setup=setup,
            now=now,
            days_past_due=days_past_due,
            write_off=(
                None if in_plan else Wait(clock.start_of(setup.policy.write_off_dpd), "write-off")
            ),
            boundary=next_bucket_boundary(clock, days_past_due),
            lapsing=commitment_deadlines(state, setup),
        )

    @property
    def deadlines(self) -> list[Wait]:
        return [deadline for _kind, deadline in self.lapsing]

    @property
    def open_calls(self) -> list[CallTask]:
        return [
            t for t in self.state.call_tasks.values() if t.state in ("open", "awaiting_promise")
        ]

    def may_requeue(self, task: CallTask) -> bool:
        return (
            task.step_index is not None
            and task.requeues < self.setup.policy.commitments.call_requeue_limit
            and not self.state.phone_unusable
            and not self.state.on_hold
            and not self.deadlines
        )

    @property
    def call_waits(self) -> list[Wait]:
        """A task's SLA wakes the case only when the task would come back to the queue; one
        that would not is marked expired at the case's next wake (its work item shows its due
        time). A call back to come is the case's next action until its moment (not while the
        case is held: its task waits with the case)."""
        slas = [
            Wait(task.due_at, f"call task {task.attempt_id} SLA")
            for task in self.open_calls
            if self.may_requeue(task)
        ]
        callback = self.state.open_callback
        if callback is None or callback.at <= self.now or self.state.on_hold:
            return slas
        return [*slas, Wait(callback.at, f"call: call back {callback.number} asked for")]

    @property
    def on_site_waits(self) -> list[Wait]:
        """A payment promised on a visit, expected within the policy's days."""
        return [
            Wait(self.paid_on_site_by(outcome_at), f"payment after visit {booking.visit_id}")
            for booking in self.state.visits.values()
            if booking.state == "paid_on_site" and (outcome_at := booking.outcome_at) is not None
        ]

    def paid_on_site_by(self, outcome_at: datetime) -> datetime:
        policy = self.setup.policy
        return outcome_at + timedelta(
            seconds=policy.commitments.paid_on_site_days * policy.day_seconds
        )

    def run(
        self,
        index: int,
        step: LadderStep,
        skipped: tuple[int, ...] = (),
        *,
        requeue_of: str | None = None,
    ) -> RunStep:
        return RunStep(
            index=index,
            step=step,
            skipped=skipped,
            days_past_due=self.days_past_due,
            outstanding_minor=self.state.outstanding_minor,
            deadline=step_deadline(self.setup, step, self.now),
            requeue_of=requeue_of,
        )


Rule = Callable[[Situation], Decision | None]


def closed_case(s: Situation) -> Decision | None:
    if not s.state.closed:
        return None
    until = linger_end(s.state, s.setup.policy)
    return Complete() if s.now >= until else Wait(until, f"closed {s.state.status}: linger")


def write_off(s: Situation) -> Decision | None:
    if s.days_past_due >= s.setup.policy.write_off_dpd and s.state.active_plan is None:
        return Close("written_off")
    return None


def commitment_lapsed(s: Situation) -> Decision | None:
    for kind, deadline in s.lapsing:
        if s.now >= deadline.until:
            return Lapse(kind)
    return None


def call_task_due(s: Situation) -> Decision | None:
    """The first open call task past its SLA comes back to the queue when it may (when its
    window and caps allow), or expires."""
    for task in s.open_calls:
        if s.now < task.due_at:
            continue
        step_index = task.step_index
        if step_index is None or not s.may_requeue(task):
            return Lapse("call", task.attempt_id)
        return _again(s, step_index, task.attempt_id, f"call task {task.attempt_id} re-queue")
    return None


def callback_asked(s: Situation) -> Decision | None:
    """A call back the borrower asked for is queued at once, due at the moment asked for (the
    desk calls then); a hold placed meanwhile suspends it with the case's other work."""
    callback = s.state.callback_to_queue
    return None if callback is None else QueueCallback(callback)


def _again(s: Situation, step_index: int, ref_id: str, label: str, *also: Wait) -> Decision | None:
    """Run the ladder step again for `ref_id` (a call re-queued, a visit re-booked) once its
    window and caps allow; until then wait, unless something in `also` or the case's own
    deadlines comes first."""
    step = s.setup.policy.ladder[step_index]
    at, rule = allowed_at(s.state, s.setup, step, s.now)
    if at > s.now:
        waiting = Wait(at, f"{label} · {rule}", deferral(step_index, step, rule))
        return earliest(waiting, s.boundary, s.write_off, *s.deadlines, *also)
    return s.run(step_index, step, requeue_of=ref_id)


def visit_due(s: Situation) -> Decision | None:
    """Visits in order: one whose on-site payment did not come, or not home once too often, is
    settled; one not home is re-booked when its window and caps allow (not while the case is
    held or paused)."""
    rebook_limit = s.setup.policy.commitments.visit_rebook_limit
    for booking in s.state.visits.values():
        if booking.state == "paid_on_site" and booking.outcome_at is not None:
            if s.now >= s.paid_on_site_by(booking.outcome_at):
                return Lapse("visit", booking.visit_id)
        elif booking.state == "not_home":
            if booking.rebooks >= rebook_limit:
                return Lapse("visit", booking.visit_id)
            if s.state.on_hold or s.deadlines:
                continue
            label = f"visit {booking.visit_id} re-booking"
            return _again(s, booking.step_index, booking.visit_id, label, *s.call_waits)
    return None


def on_hold(s: Situation) -> Decision | None:
    return _no_contact(s, "on hold · ") if s.state.on_hold else None


def paused(s: Situation) -> Decision | None:
    """A borrower keeping a commitment is not chased meanwhile."""
    return _no_contact(s, "contact paused · ") if s.deadlines else None


def _no_contact(s: Situation, why: str) -> Wait:
    """No contact now: the case sleeps until what is due regardless of contact."""
    return earliest(
        s.boundary, s.write_off, *s.deadlines, *s.call_waits, *s.on_site_waits, reason_prefix=why
    )


def due_step(s: Situation) -> Decision | None:
    """The latest ladder step due now (after a broken plan, of the plan's stage) runs, when its
    window and caps allow; a call or SMS with the phone unusable and no way round is skipped."""
    state, ladder = s.state, s.setup.policy.ladder
    choice = resumed(state, s.setup.policy, choose_step(ladder, state.next_step, s.days_past_due))
    if choice.run is None:
        return None
    if state.phone_unusable:
        unusable = ladder[choice.run]
        if unusable.channel == "call" or (
            unusable.channel == "sms" and not state.case.borrower.email
        ):
            return Skip(choice.run, f"{unusable.channel}: the phone is unusable (wrong number)")
    step = usable(state, ladder[choice.run])
    at, rule = allowed_at(state, s.setup, step, s.now)
    if at <= s.now:
        return s.run(choice.run, step, tuple(choice.skipped))
    waiting = Wait(
        at, f"{step.channel}: {step.template} · {rule}", deferral(choice.run, step, rule)
    )
    return earliest(waiting, s.boundary, s.write_off, *s.call_waits, *s.on_site_waits)


def next_step(s: Situation) -> Decision:
    """Nothing is due now: sleep until the next step may run, or a boundary, write-off or an
    SLA, whichever comes first."""
    state, ladder = s.state, s.setup.policy.ladder
    waits = (s.boundary, s.write_off, *s.call_waits, *s.on_site_waits)
    if state.next_step >= len(ladder):
        return earliest(*waits)
    step = usable(state, ladder[state.next_step])
    at, rule = allowed_at(state, s.setup, step, max(s.now, s.setup.clock.start_of(step.dpd)))
    # A step due at night waits for the window as a matter of course; a cap is news.
    held = f" · {rule}" if rule and rule != CONTACT_WINDOW else ""
    return earliest(Wait(at, f"{step.channel}: {step.template} · DPD {step.dpd}{held}"), *waits)


# The rules in the order they are tried; the last always decides.
RULES: tuple[Rule, ...] = (
    closed_case,
    write_off,
    commitment_lapsed,
    callback_asked,
    call_task_due,
    visit_due,
    on_hold,
    paused,
    due_step,
    next_step,
)


def decide(state: CaseState, setup: CaseSetup, now: datetime) -> Decision:
    situation = Situation.of(state, setup, now)
    for rule in RULES:
        decision = rule(situation)
        if decision is not None:
            return decision
    raise AssertionError("the last rule always decides")


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
