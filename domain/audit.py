"""The case's audit log: what kinds of event it records, and the shape of one event.

Every kind the case writes is named here once; the workflow, the activities and the reports
read the same names. `AuditKind` is a `StrEnum`: a member is its string wherever it goes (the
database, the payloads, the carried state), so events recorded before it existed read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique


@unique
class AuditKind(StrEnum):
    # The ladder and its contacts
    STEP_SKIPPED = "step_skipped"
    CONTACT_NOT_SENT = "contact_not_sent"
    CONTACT_DEFERRED = "contact_deferred"
    CHANNEL_UNREACHABLE = "channel_unreachable"
    # Field work: calls and visits
    CONTACT_OUTCOME = "contact_outcome"
    VISIT_OUTCOME = "visit_outcome"
    CALL_EXPIRED = "call_expired"
    VISIT_SETTLED = "visit_settled"
    SKIP_TRACE_OPENED = "skip_trace_opened"
    PHONE_UNUSABLE = "phone_unusable"
    ON_SITE_PAYMENT_RECEIVED = "on_site_payment_received"
    # The borrower asked to be called back at a moment (`request_callback`)
    CALLBACK_REQUESTED = "callback_requested"
    # The person responsible for the case (the rota's pick or a supervisor's choice)
    ASSIGNED = "assigned"
    # Commitments
    PROMISE_MADE = "promise_made"
    PROMISE_KEPT = "promise_kept"
    PROMISE_BROKEN = "promise_broken"
    PLAN_AGREED = "plan_agreed"
    PLAN_COMPLETED = "plan_completed"
    PLAN_BROKEN = "plan_broken"
    PLAN_REJECTED = "plan_rejected"
    SETTLEMENT_AGREED = "settlement_agreed"
    SETTLEMENT_PAID = "settlement_paid"
    SETTLEMENT_LAPSED = "settlement_lapsed"
    # The debt
    PENALTY_ACCRUED = "penalty_accrued"
    BALANCE_ADJUSTED = "balance_adjusted"
    ADJUSTMENT_REJECTED = "adjustment_rejected"
    # Holds
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    # The legal track
    LEGAL_EVENT = "legal_event"
    LEGAL_RECALLED = "legal_recalled"
    # The end of the case
    CLOSED = "closed"
    COMPLETED = "completed"

    def __repr__(self) -> str:
        # As the plain string it stands for: a fact's repr (which sizes the workflow's
        # bookkeeping batches) stays what it was when kinds were bare strings.
        return repr(self.value)


@dataclass(frozen=True)
class AuditFact:
    """A line for the case's audit log; (kind, ref_id) is unique within a case."""

    kind: AuditKind
    ref_id: str
    detail: dict[str, str | int | None]
    # When it was first handed to the writer (set by the workflow), so a batch written late, or
    # written again after a failure, keeps the moment it happened.
    at: str | None = None


def with_source(
    detail: dict[str, str | int | None], source: str | None
) -> dict[str, str | int | None]:
    """An event's detail naming who sent the message (the agent, for the supervisor's counts).
    Only when there is one: an event of a message without it is recorded as it always was, so
    a case replays its history to the same activity inputs."""
    return detail if source is None else {**detail, "source": source}
