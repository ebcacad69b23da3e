"""Moments a case decides by: when a step may run (its contact window, its caps), when a
commitment lapses, the next bucket boundary, the end of a closed case's linger, a call task's
SLA and a visit's slot. Pure functions of the case's state, its setup and the time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.caps import CONTACT_WINDOW, Deferred, check_contact
from domain.case_core import CaseCore
from domain.clock import BUCKET_STARTS, SECONDS_PER_DAY, CaseClock, bucket
from domain.contact_counting import earlier_contacts
from domain.contact_rules import spread_opening, window_closes_at
from domain.decisions import CaseSetup, Deferral, LapseKind, Wait
from domain.policy import LadderStep, Policy

# A contact may start no later than this before its window closes, so that an attempt started
# last (its HTTP call bounded well below this) still ends inside the window.
SEND_MARGIN = timedelta(seconds=30)
# Why a step waits after a contact that did not leave (on record already, with its reason).
AFTER_UNSENT = "after an unsent contact"


def call_sla(setup: CaseSetup) -> timedelta:
    """How long an agent has for a call task, in the case's days."""
    return timedelta(seconds=setup.policy.commitments.call_sla_days * setup.policy.day_seconds)


def visit_slot(setup: CaseSetup, now: datetime) -> datetime:
    """When a field visit is booked for: a daytime slot, 10:00 in the borrower's timezone on
    the next day (on a fast clock, one case day ahead)."""
    if setup.policy.day_seconds != SECONDS_PER_DAY:
        return now + timedelta(seconds=setup.policy.day_seconds)
    local = now.astimezone(ZoneInfo(setup.timezone))
    return datetime.combine(local.date() + timedelta(days=1), time(10), tzinfo=local.tzinfo)


def case_today(state: CaseCore, setup: CaseSetup, now: datetime) -> date:
    """Today in the case's calendar (a `demo` day is two seconds): the date that commitments'
    due dates are compared with."""
    return state.case.due + timedelta(days=setup.clock.days_past_due(now))


def end_of_day(state: CaseCore, setup: CaseSetup, day: date) -> datetime:
    """The end of `day` in the case's calendar and the borrower's timezone."""
    return setup.clock.start_of((day - state.case.due).days + 1)


def commitment_deadlines(state: CaseCore, setup: CaseSetup) -> list[tuple[LapseKind, Wait]]:
    """(kind, when) each pending commitment lapses if unkept: a promise at the end of its due
    date plus the promise grace, the next installment at the end of its due date plus the plan
    grace, a settlement at the end of its due date."""
    rules = setup.policy.commitments
    deadlines: list[tuple[LapseKind, Wait]] = []
    if (promise := state.pending_promise) is not None:
        day = promise.due_date + timedelta(days=rules.promise_grace_days)
        deadlines.append(
            ("promise", Wait(end_of_day(state, setup, day), f"promise {promise.promise_id} due"))
        )
    if (active := state.active_plan) is not None and (installment := active.next_due()):
        day = installment.due_date + timedelta(days=rules.plan_grace_days)
        deadlines.append(
            (
                "plan",
                Wait(end_of_day(state, setup, day), f"plan installment due {installment.due_date}"),
            )
        )
    if (settlement := state.pending_settlement) is not None:
        deadlines.append(
            (
                "settlement",
                Wait(
                    end_of_day(state, setup, settlement.due_date),
                    f"settlement {settlement.settlement_id} due",
                ),
            )
        )
    return deadlines


def linger_end(state: CaseCore, policy: Policy) -> datetime:
    assert state.closed_at is not None
    days = policy.recovery_days if state.final_status == "written_off" else policy.linger_days
    return state.closed_at + timedelta(seconds=days * policy.day_seconds)


def allowed_at(
    state: CaseCore, setup: CaseSetup, step: LadderStep, earliest: datetime
) -> tuple[datetime, str]:
    """The first moment at or after `earliest` when the step may run, and the rule that holds
    it back until then (`caps.py`'s name, "" if none): a legal hand-off at once; a contact
    inside the borrower's contact window, with time left to end inside it, and within the
    policy's caps counted over this case's own contacts. A contact held by the window alone
    goes out at the case's own moment of the window's first `spread_minutes`."""
    if step.channel == "legal":
        return earliest, ""
    held_by = ""
    if state.not_before is not None and state.not_before > earliest:
        earliest, held_by = state.not_before, AFTER_UNSENT
    verdict = check_contact(
        step.channel,
        earliest,
        policy=setup.policy,
        timezone=setup.timezone,
        contacts=earlier_contacts(state.contacts, refused_sends_count=setup.refused_sends_count),
        margin=SEND_MARGIN,
    )
    if isinstance(verdict, Deferred):
        window = setup.policy.contact_window
        if verdict.rule != CONTACT_WINDOW or window is None:
            return verdict.until, verdict.rule
        # Held by the window alone: `until` is an opening, shared by every case due that day.
        at = spread_opening(
            verdict.until,
            key=state.case.loan_id,
            timezone=setup.timezone,
            window=window,
            margin=SEND_MARGIN,
        )
        return at, verdict.rule
    return earliest, held_by


def step_deadline(setup: CaseSetup, step: LadderStep, now: datetime) -> datetime | None:
    """When a contact must have started its last attempt: shortly before its window closes."""
    window = setup.policy.contact_window
    if step.channel == "legal" or window is None:
        return None
    return window_closes_at(now, timezone=setup.timezone, window=window) - SEND_MARGIN


def next_bucket_boundary(clock: CaseClock, days_past_due: int) -> Wait | None:
    start = next((first for _, first in BUCKET_STARTS if first > days_past_due), None)
    if start is None:
        return None
    return Wait(clock.start_of(start), f"bucket {bucket(start)} · DPD {start}")


def earliest(*waits: Wait | None, reason_prefix: str = "") -> Wait:
    first = min((wait for wait in waits if wait is not None), key=lambda wait: wait.until)
    return Wait(first.until, reason_prefix + first.reason, first.deferred)


def deferral(index: int, step: LadderStep, rule: str) -> Deferral | None:
    """What the audit log records of a step held back: a rule's, not a re-decision's wait."""
    if not rule or rule == AFTER_UNSENT:
        return None
    return Deferral(index, step.channel, rule)
