"""The phone agent's queue on the collectors' desk: which call to make next.

Every open call task is in the queue (its `due_at` is the deadline by which the case expects
the call's outcome). For the agent looking at it at `now` the tasks fall into three lists:

- `held`: the borrower is claimed by another agent (`domain.desk_claims`); shown, not takeable;
- `later`: the borrower may not be called now, by the case policy's contact window or its
  caps (`domain.caps.check_contact`, the same rule every contact of the case obeys), or it is a
  call back the borrower asked for at a later moment (`callback_time`), with the moment the
  call becomes allowed and the rule that holds it back;
- `callable_now`: everything else; the first one is the call to make.

Each list is in this order (the desk's ordering rule):

1. the agent's own cases first (the case's responsible collector is this agent);
2. then cases with a broken promise first;
3. then the later bucket first (more days past due: M4+, M3, M2, M1, M0);
4. then the larger outstanding amount first (amounts in different currencies are not
   compared: the currency code, alphabetically, decides between them);
5. then the earlier deadline (`due_at`) first;
6. then by loan id, then by task id, so that the order is the same on every screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.caps import Deferred, EarlierContact, check_contact
from domain.clock import BUCKETS
from domain.desk_claims import Claim, live_claim
from domain.policy import Policy

CALL = "call"
# What holds back a call back the borrower asked for: the moment they asked for.
CALLBACK_TIME = "callback_time"


@dataclass(frozen=True)
class QueuedCall:
    """One open call task as the desk lists it (no personal data: the borrower is a key)."""

    loan_id: str
    attempt_id: str  # the call task's id (its contact attempt's)
    borrower_key: str  # the borrower's opaque id: claims are per borrower
    bucket: str  # the case's delinquency bucket, one of `domain.clock.BUCKETS`
    outstanding_minor: int
    currency: str
    due_at: datetime  # the task's deadline, an aware datetime
    broken_promises: int  # how many of the case's promises were broken
    assignee: str | None  # the case's responsible collector, if any
    # What the contact rules need: the borrower's timezone, the case's policy, and the
    # borrower's other contacts that count against the caps (on all their loans). This task's
    # own attempt must not be among them: it was counted when it was queued, and counting it
    # again would make the call hold itself back.
    timezone: str
    policy: Policy
    earlier_contacts: tuple[EarlierContact, ...] = ()
    # The number the call goes to, for the per-number cap (None: the borrower's one number).
    number: str | None = None
    # The call's own moment: a call back's is the moment the borrower asked for, before which
    # nobody calls; a ladder call's is when it was queued (None: at once).
    call_at: datetime | None = None


@dataclass(frozen=True)
class QueueEntry:
    call: QueuedCall
    # `later`: when the call becomes allowed and the rule holding it back (`domain.caps`'s
    # names, e.g. `contact_window`, `daily_cap.call`); None elsewhere.
    callable_at: datetime | None = None
    held_by_rule: str | None = None
    # The live claim on the borrower: another agent's (`held`), or this agent's own.
    claim: Claim | None = None


@dataclass(frozen=True)
class DeskQueue:
    callable_now: list[QueueEntry] = field(default_factory=list)
    later: list[QueueEntry] = field(default_factory=list)
    held: list[QueueEntry] = field(default_factory=list)


def queue_order(call: QueuedCall, user: str) -> tuple[object, ...]:
    """The sort key of the ordering rule (see the module's docstring)."""
    return (
        call.assignee != user,
        call.broken_promises == 0,
        -_bucket_rank(call.bucket),
        call.currency,
        -call.outstanding_minor,
        call.due_at,
        call.loan_id,
        call.attempt_id,
    )


def callable_from(call: QueuedCall, now: datetime) -> Deferred | None:
    """When the call may be made, if not now: not before its own moment (a call back's), and
    then by the policy's contact window and caps, applied by the same function that governs
    every contact of the case."""
    if call.call_at is not None and now < call.call_at:
        return Deferred(call.call_at, CALLBACK_TIME)
    verdict = check_contact(
        CALL,
        now,
        policy=call.policy,
        timezone=call.timezone,
        contacts=call.earlier_contacts,
        number=call.number,
    )
    return verdict if isinstance(verdict, Deferred) else None


def desk_queue(
    calls: Iterable[QueuedCall], *, user: str, claims: Sequence[Claim], now: datetime
) -> DeskQueue:
    """The queue as `user` sees it at `now`, given the desk's claims."""
    queue = DeskQueue()
    for call in sorted(calls, key=lambda c: queue_order(c, user)):
        holding = live_claim(claims, call.borrower_key, now)
        if holding is not None and holding.holder != user:
            queue.held.append(QueueEntry(call, claim=holding))
            continue
        deferred = callable_from(call, now)
        if deferred is not None:
            queue.later.append(QueueEntry(call, deferred.until, deferred.rule, holding))
        else:
            queue.callable_now.append(QueueEntry(call, claim=holding))
    return queue


def _bucket_rank(name: str) -> int:
    """M0 = 0 ... M4+ = 4; an unknown bucket ranks below every known one."""
    return BUCKETS.index(name) if name in BUCKETS else -1
