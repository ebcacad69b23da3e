"""Names and payloads of the activities, shared by the workflow and the worker.

This module is deliberately free of I/O imports: the workflow sandbox imports it,
while the implementations (sqlmodel, httpx, files) live beside it and only the
worker imports them.

No `from __future__ import annotations` here nor in the domain dataclasses that travel
in payloads: the payload converter resolves their type hints inside the workflow
sandbox, where string annotations failed with NameError and stalled every case.

Activity inputs and results stay in Temporal's history for good, so they carry ids and
non-personal facts only: the borrower's contact details live in the case database (table
`borrowers`, written by `prepare_case`) and the activities look them up by `borrower_id`.
`PrepareRequest` is the one exception, because `prepare_case` is a local activity: only its
result is recorded, never its input.
"""

from dataclasses import dataclass, field, fields

from domain.audit import AuditFact
from domain.case import CaseInput
from domain.case_records import PaymentFact
from domain.channels import Work
from domain.policy import Policy
from domain.routing import Strategy

# Results of a contact a channel rule kept from leaving (blocked: opted out, undeliverable;
# deferred: a cap over all of the borrower's loans, until `retry_at`), and the rule of a
# contact the provider asked to wait (its Retry-After): their meaning is `domain.step_plan`'s.
from domain.step_plan import CONTACT_BLOCKED as CONTACT_BLOCKED
from domain.step_plan import CONTACT_DEFERRED as CONTACT_DEFERRED
from domain.step_plan import RETRY_AFTER_RULE as RETRY_AFTER_RULE

PREPARE_CASE = "prepare_case"
SEND_NOTICE = "send_notice"
QUEUE_CALL = "queue_call"
BOOK_FIELD_VISIT = "book_field_visit"
HAND_OFF_TO_LEGAL = "hand_off_to_legal"
STORE_CASE_RECORDS = "store_case_records"
ASSIGN_COLLECTOR = "assign_collector"
# The activity that carries out a ladder step, by its channel's kind of work
# (`domain.channels`).
ACTIVITY_FOR_WORK: dict[Work, str] = {
    "notice": SEND_NOTICE,
    "call": QUEUE_CALL,
    "visit": BOOK_FIELD_VISIT,
    "legal": HAND_OFF_TO_LEGAL,
}

# Business errors raised by activities; the workflow's retry policies never retry them.
INVALID_CASE = "InvalidCase"


@dataclass(frozen=True)
class PrepareRequest:
    case_id: str
    workflow_id: str
    case: CaseInput
    opened_at: str


@dataclass(frozen=True)
class PreparedCase:
    policy: Policy
    timezone: str
    planned_ladder: list[str] = field(default_factory=list)
    # When the case was opened (the request's `opened_at`), as recorded with this result.
    opened_at: str | None = None
    # What routing chose (absent from results recorded before routing: the case's own policy).
    strategy: Strategy | None = None


@dataclass(frozen=True, kw_only=True)
class PaymentRecord(PaymentFact):
    """A payment as received; rejected ones are kept too, with the reason.

    The journalled fact's fields, and where and when it was received. It travels in
    recorded histories (`CaseRecords.payments`): a record written before it carried the
    fact's `at` still decodes, `at` being optional.
    """

    case_id: str
    loan_id: str
    received_at: str

    @classmethod
    def of(cls, fact: PaymentFact, *, case_id: str, loan_id: str, now: str) -> "PaymentRecord":
        """The record of a journalled payment fact; received when first handed to the writer
        (`fact.at`), else `now`."""
        # The fact's own fields, whatever they come to be, so the two shapes cannot drift.
        facts = {item.name: getattr(fact, item.name) for item in fields(PaymentFact)}
        return cls(**facts, case_id=case_id, loan_id=loan_id, received_at=fact.at or now)


@dataclass(frozen=True)
class CaseEvent:
    """One line of the case's append-only audit log; `event_key` is its idempotency key."""

    case_id: str
    event_key: str
    loan_id: str
    kind: str
    at: str
    ref_id: str | None = None
    detail: dict[str, str | int | None] = field(default_factory=dict)

    @classmethod
    def of(cls, fact: AuditFact, *, case_id: str, loan_id: str, now: str) -> "CaseEvent":
        """The audit log's line for a journalled fact, keyed by case, kind and reference (so
        writing it twice is harmless); it happened when first handed to the writer, else
        `now`."""
        return cls(
            case_id=case_id,
            event_key=f"{case_id}:{fact.kind}:{fact.ref_id}",
            loan_id=loan_id,
            kind=str(fact.kind),
            at=fact.at or now,
            ref_id=fact.ref_id,
            detail=fact.detail,
        )


@dataclass(frozen=True)
class CaseSnapshot:
    case_id: str
    loan_id: str
    stage: str
    status: str
    days_past_due: int
    outstanding_minor: int
    paid_minor: int
    at: str
    # The outstanding amount by part (`Parts.as_json()`) as of `balance_as_of`, the case's
    # latest decision; None in a snapshot taken before debts had parts.
    balance: dict[str, int] | None = None
    balance_as_of: str | None = None


@dataclass(frozen=True)
class CaseRecords:
    """One batch of a case's bookkeeping: payments and audit events (each idempotent by its
    key) and the case table's snapshot of the case's position, written together."""

    case_id: str
    loan_id: str
    payments: list[PaymentRecord] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    snapshot: CaseSnapshot | None = None


@dataclass(frozen=True)
class ContactRequest:
    """One contact action of the ladder; `attempt_id` is its idempotency key."""

    case_id: str
    attempt_id: str
    loan_id: str
    channel: str
    template: str
    days_past_due: int
    currency: str
    outstanding_minor: int
    scheduled_at: str
    # When a call task's SLA ends (the work item's due time), or the visit's booked slot.
    due_at: str | None = None
    # The case's bookkeeping up to this step (its new stage, skipped steps), written by the
    # step's own activity instead of a separate round trip.
    records: CaseRecords | None = None
    # Whose contact details to use. None in a task scheduled before requests named the
    # borrower (they carried the details instead): the case's row names the borrower then.
    borrower_id: str | None = None
    # The outstanding amount by part (`Parts.as_json()`), as of the step's decision; None in
    # a task scheduled before debts had parts.
    balance: dict[str, int] | None = None


@dataclass(frozen=True)
class ContactResult:
    attempt_id: str
    result: str
    provider_ref: str | None = None
    # Why a contact was not sent although it could be: result "blocked", "opt_out" or
    # "undeliverable" (the state of the borrower's channel); result "deferred", the cap
    # (counted over all of the borrower's loans) that holds it back until `retry_at`.
    rule: str | None = None
    retry_at: str | None = None


@dataclass(frozen=True)
class LoanFacts:
    """The loan a case collects, as it was opened; the borrower by id only."""

    loan_id: str
    borrower_id: str
    currency: str
    overdue_amount_minor: int
    due_date: str
    policy: str
    portfolio: str

    @classmethod
    def of(cls, case: CaseInput) -> "LoanFacts":
        return cls(
            loan_id=case.loan_id,
            borrower_id=case.borrower.borrower_id,
            currency=case.currency,
            overdue_amount_minor=case.overdue_amount_minor,
            due_date=case.due_date,
            policy=case.policy,
            portfolio=case.portfolio,
        )


@dataclass(frozen=True)
class LegalHandOffRequest:
    case_id: str
    referral_id: str
    days_past_due: int
    outstanding_minor: int
    paid_minor: int
    at: str
    records: CaseRecords | None = None
    # None in a hand-off scheduled before requests carried the loan's facts (they carried
    # the whole start input instead): the case's row holds the same facts then.
    loan: LoanFacts | None = None
    # The outstanding amount by part (`Parts.as_json()`) at the hand-off; None in a hand-off
    # scheduled before debts had parts.
    balance: dict[str, int] | None = None


@dataclass(frozen=True)
class LegalHandOffResult:
    referral_id: str
    evidence_dir: str
    files: list[str]


@dataclass(frozen=True)
class AssignRequest:
    """Ask the rota for the next collector of a team (`assign_collector`): the case by id, the
    bucket its team works and its stage (`phone`: an agent, `field_visit`: a field collector).
    `request_id` is the idempotency key: the same request again gets the same person."""

    case_id: str
    loan_id: str
    bucket: str
    stage: str
    request_id: str


@dataclass(frozen=True)
class AssignResult:
    """The desk user picked (None: nobody active works that team) and the team's key
    (`agent:M2`)."""

    request_id: str
    team: str
    user_name: str | None = None
