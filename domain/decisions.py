"""What `domain.decide` may decide, one type each, and the case's setup it decides with.

Decisions are values: the workflow carries them out (`RunStep`, `Skip`, `Close`, `Lapse`,
`QueueCallback`), sleeps (`Wait`) or ends (`Complete`). None of them travels in a payload or in
the state a case carries over: a case decides again after every wake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.case_records import Callback
from domain.clock import CaseClock
from domain.policy import LadderStep, Policy


@dataclass(frozen=True)
class CaseSetup:
    """What preparation fixed for the case: its policy snapshot, timezone and clock."""

    policy: Policy
    timezone: str
    clock: CaseClock
    # Cases begun before the caps' rule was shared with the activities count a send refused
    # for good against their own caps (see `domain.contact_counting.earlier_contacts`).
    refused_sends_count: bool = False


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
class QueueCallback:
    """Queue the call task of the call back the borrower asked for, due at `callback.at`."""

    callback: Callback


@dataclass(frozen=True)
class Skip:
    """Ladder step `index` cannot be carried out (a call with no usable phone): pass it."""

    index: int
    why: str


@dataclass(frozen=True)
class Deferral:
    """A step due now, held back by `rule` (a name of `domain.caps`): the audit log says so."""

    step_index: int
    channel: str
    rule: str


@dataclass(frozen=True)
class Wait:
    """Nothing is due before `until`; `reason` names what is due then (shown on the timer).
    `deferred`: a step due now that a rule (the window, a cap) holds back until then."""

    until: datetime
    reason: str
    deferred: Deferral | None = None


@dataclass(frozen=True)
class Close:
    status: str


@dataclass(frozen=True)
class Complete:
    """The closed case's linger is over: the workflow ends."""


# What can run out while the case waits for it.
LapseKind = Literal["promise", "plan", "settlement", "call", "visit"]


@dataclass(frozen=True)
class Lapse:
    """Something the case waited for ran out: a commitment unkept (`promise`, `plan`,
    `settlement`), a call task's SLA with no re-queue left (`call`: `ref_id` is the task's
    attempt id), or a visit that asks nothing more (`visit`: `ref_id` is the visit's id)."""

    kind: LapseKind
    ref_id: str | None = None


Decision = RunStep | Wait | Close | Complete | Lapse | Skip | QueueCallback
