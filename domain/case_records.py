"""The records a case keeps of its parts: contacts made, call tasks and visits in progress,
payments received, holds placed, and what the case database still has to get (`Fact`).

They are plain dataclasses: they travel in the state a case carries over when it continues as
new, so their field names and shapes stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.audit import AuditFact
from domain.fields import storable_id

# A flood of invalid signals must not grow the case without bound: its state keeps the latest
# rejections of each kind (every one of them reaches the case database through the journal) and
# counts the rest; a rejection's reason is cut to a length that cannot bloat the history.
REJECTIONS_KEPT = 50
REASON_MAX = 500


@dataclass
class Contact:
    attempt_id: str
    channel: str
    template: str
    at: str
    result: str
    days_past_due: int
    note: str | None = None


@dataclass
class CallTask:
    """An agent's call task in the work queue, with its SLA."""

    attempt_id: str
    # The ladder step that queued it; None: a call back the borrower asked for (never
    # re-queued).
    step_index: int | None
    due_at: datetime
    sla: timedelta
    requeues: int = 0
    # open (awaiting an outcome), awaiting_promise (the borrower promised on the call),
    # done, expired
    state: str = "open"


@dataclass
class Callback:
    """A call back the borrower asked for at `at`: its call task is queued once, due then."""

    request_id: str
    # The case's n-th call back: its call task's id ends in `.cb{number}`.
    number: int
    at: datetime
    source: str | None = None
    # requested (its call task still to be queued), queued (its call task's id in
    # `attempt_id`), not_queued (no call task: the rules over all of the borrower's loans
    # deferred it, or the queue refused it for good)
    state: str = "requested"
    attempt_id: str | None = None


@dataclass
class VisitBooking:
    """A booked field visit and what its outcome asks of the case."""

    visit_id: str
    step_index: int
    rebooks: int = 0
    # booked; not_home (to be re-booked); paid_on_site (a payment is expected); done
    state: str = "booked"
    outcome_at: datetime | None = None


@dataclass
class PaymentEntry:
    payment_id: str
    amount_minor: int
    at: str
    source: str | None
    applied_minor: int
    overpaid_minor: int
    # Money received after a write-off: recovered, the case stays written off.
    recovery: bool = False
    # What it paid off, part by part (`Parts.as_json()`); None in payments taken before the
    # debt had parts.
    allocation: dict[str, int] | None = None


@dataclass
class Hold:
    hold_id: str
    kind: str
    reason: str
    placed_at: str
    # Who placed it (a state carried over from before holds kept it has none).
    source: str | None = None


@dataclass(frozen=True)
class PaymentFact:
    """A payment as received, applied or rejected; `record_id` is unique within a case.

    `contracts.PaymentRecord` is this fact with where and when it was received: a field added
    here reaches the record, and the case database's `payments` table needs its column."""

    record_id: str
    status: str
    payment_id: str | None
    amount_minor: int | None = None
    currency: str | None = None
    paid_at: str | None = None
    source: str | None = None
    reason: str | None = None
    applied_minor: int = 0
    overpaid_minor: int = 0
    outstanding_after_minor: int | None = None
    at: str | None = None
    allocation: dict[str, int] | None = None


# What the workflow's writer takes from the journal to the case database.
Fact = AuditFact | PaymentFact


def keep_rejection(
    kept: list[dict[str, Any]], id_field: str, raw: Any, reason: str
) -> tuple[str | None, str]:
    """Keep a rejected message among the latest REJECTIONS_KEPT (`kept`): its id as it can be
    stored (an absurd one shortened) and its reason cut to REASON_MAX, which are returned for
    the case's journal."""
    message_id = storable_id(raw.get(id_field) if isinstance(raw, dict) else None)
    if len(reason) > REASON_MAX:
        reason = reason[: REASON_MAX - 1] + "…"
    kept.append({id_field: message_id, "reason": reason})
    del kept[:-REJECTIONS_KEPT]
    return message_id, reason
