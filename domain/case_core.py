"""The fields of a case's state, what follows from them, and the rules every part shares.

`CaseCore` holds every field of the case (the parts' rules live in their own modules, as
mixins of it, and `domain.case_state.CaseState` puts them together): de-duplication of messages
by their caller-chosen ids, the case's status, and closing. What must reach the case database
is appended to `journal`; `revision` counts the changes that may alter what the case does next.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from domain.audit import AuditFact, AuditKind
from domain.case import CaseInput
from domain.case_records import (
    Callback,
    CallTask,
    Contact,
    Fact,
    Hold,
    PaymentEntry,
    VisitBooking,
)
from domain.case_status import FINAL_STATUSES
from domain.commitments import Plan, Promise, Settlement
from domain.debt import Debt, DebtTerms
from domain.errors import InvalidInput
from domain.fields import ADDED_LATER
from domain.routing import Strategy

# The field that names each kind of message, for errors about its id.
ID_FIELDS = {
    "payment": "payment_id",
    "hold": "hold_id",
    "release": "hold_id",
    "call": "attempt_id",
    "field_visit": "visit_id",
    "legal": "event_id",
    "promise": "promise_id",
    "plan": "plan_id",
    "settlement": "settlement_id",
    "adjustment": "adjustment_id",
    "assignment": "message_id",
    "callback": "request_id",
}
# Holds under which no penalty accrues: the debtor's estate or the bankruptcy court decides.
ACCRUAL_STOPPING_HOLDS = frozenset({"bankruptcy", "deceased"})


@dataclass(frozen=True)
class Answered:
    """The first answer to a message, with a fingerprint of the message it answered (not the
    message itself: the answers travel with the case when it continues as new)."""

    fingerprint: str
    answer: dict[str, Any]


def fingerprint(body: object) -> str:
    """A short digest of a parsed message (a frozen dataclass of plain values, whose repr is
    stable), enough to tell the same message from another one under the same id."""
    text = _as_fingerprinted(body)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _as_fingerprinted(body: object) -> str:
    """The message's repr, without the fields added later that it leaves unset: the carried
    answers hold fingerprints taken before those fields existed, and a message resent without
    them must match its first answer. Set, such a field is part of the message like any other."""
    if not dataclasses.is_dataclass(body) or isinstance(body, type):
        return repr(body)
    shown = [
        f"{item.name}={getattr(body, item.name)!r}"
        for item in dataclasses.fields(body)
        if item.repr and not (item.metadata.get(ADDED_LATER) and getattr(body, item.name) is None)
    ]
    # As the dataclass's own repr writes it.
    return f"{type(body).__qualname__}({', '.join(shown)})"


@dataclass
class CaseCore:
    case: CaseInput
    stage: str = "preparation"
    final_status: str | None = None
    closed_at: datetime | None = None
    # The ledger. `debt` is None until the case first changes it (and in a state carried over
    # from before debts had parts): `current_debt` derives it from the start input then.
    debt: Debt | None = None
    # When the debt was last brought up to date: the case's latest decision.
    balance_as_of: str | None = None
    paid_minor: int = 0
    overpaid_minor: int = 0
    recovered_minor: int = 0
    # The index of the next ladder step to run; steps before it ran or were skipped.
    next_step: int = 0
    # A contact that could not leave in its window is not tried again before this moment.
    not_before: datetime | None = None
    # Commitments
    promise: Promise | None = None
    broken_promises: int = 0
    plan: Plan | None = None
    settlement: Settlement | None = None
    # After a broken plan, collection resumes at the stage where the plan began.
    resume_stage: str | None = None
    # Field work
    call_tasks: dict[str, CallTask] = field(default_factory=dict)
    visits: dict[str, VisitBooking] = field(default_factory=dict)
    # Call backs the borrower asked for, by request id (absent from states carried before them).
    callbacks: dict[str, Callback] = field(default_factory=dict)
    # A `wrong_number` outcome: no more call tasks or SMS to that phone.
    phone_unusable: bool = False
    # Channels that cannot reach the borrower on any loan (opted out, or the provider refused
    # the recipient for good), with the rule that says so: later reminders use another channel.
    unreachable_channels: dict[str, str] = field(default_factory=dict)
    # The last deferral put on record, so a case that wakes again while still held back does
    # not record it twice.
    last_deferral: str | None = None
    holds: dict[str, Hold] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    payments: list[PaymentEntry] = field(default_factory=list)
    # The latest REJECTIONS_KEPT rejections of each kind, and how many there were in all.
    rejected_payments: list[dict[str, Any]] = field(default_factory=list)
    rejected_plans: list[dict[str, Any]] = field(default_factory=list)
    rejected_payment_count: int = 0
    rejected_plan_count: int = 0
    rejected_adjustments: list[dict[str, Any]] = field(default_factory=list)
    rejected_adjustment_count: int = 0
    # The legal track
    legal_events: list[dict[str, Any]] = field(default_factory=list)
    next_action: dict[str, Any] | None = None
    # The person responsible for the case (a desk user name), and who was picked for each role
    # (`agent`, `field`); teams the rota found empty. Absent from states carried before them.
    assignee: str | None = None
    assignees: dict[str, str] = field(default_factory=dict)
    # What routing chose at preparation; None until then (and in states carried before
    # routing, whose preparation sets it again).
    strategy: Strategy | None = None
    unstaffed_teams: list[str] = field(default_factory=list)
    # Bookkeeping: answers by message id, and what the case database has yet to get
    answers: dict[str, Answered] = field(default_factory=dict)
    journal: list[Fact] = field(default_factory=list)
    revision: int = 0
    unsent: int = 0

    # -- derived -----------------------------------------------------------------
    @property
    def current_debt(self) -> Debt:
        if self.debt is not None:
            return self.debt
        opened = Debt.opened(self.case.opening_parts, self.case.due)
        return opened.paid(self.paid_minor)[0] if self.paid_minor else opened

    @property
    def outstanding_minor(self) -> int:
        return self.current_debt.parts.total_minor

    @property
    def accruing(self) -> bool:
        """Whether penalty accrues now: not while a plan or a settlement runs, under a hold
        for bankruptcy or death, or once the case is closed."""
        return not (
            self.closed
            or self.active_plan is not None
            or self.pending_settlement is not None
            or any(hold.kind in ACCRUAL_STOPPING_HOLDS for hold in self.holds.values())
        )

    def owed_on(self, today: date) -> Debt:
        """The debt with the penalty of every day up to `today` posted, changing nothing."""
        return self.current_debt.accrued(today, accruing=self.accruing)

    @property
    def closed(self) -> bool:
        return self.final_status is not None

    @property
    def on_hold(self) -> bool:
        return bool(self.holds)

    @property
    def status(self) -> str:
        if self.final_status is not None:
            return self.final_status
        if self.holds:
            return "on_hold"
        if self.plan is not None and self.plan.state == "active":
            return "in_plan"
        if self.promise is not None and self.promise.state == "pending":
            return "promise_pending"
        return "active"

    @property
    def pending_promise(self) -> Promise | None:
        return self.promise if self.promise and self.promise.state == "pending" else None

    @property
    def active_plan(self) -> Plan | None:
        return self.plan if self.plan and self.plan.state == "active" else None

    @property
    def pending_settlement(self) -> Settlement | None:
        return self.settlement if self.settlement and self.settlement.state == "pending" else None

    @property
    def legal_stage(self) -> str | None:
        """Where the legal track stands: None before the hand-off, then `referred`, then the
        latest event."""
        if not any(c.channel == "legal" for c in self.contacts):
            return None
        return self.legal_events[-1]["event"] if self.legal_events else "referred"

    def contact(self, attempt_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.attempt_id == attempt_id), None)

    # -- the debt ----------------------------------------------------------------
    def take_strategy(self, strategy: Strategy) -> None:
        """The policy preparation chose (or the start input named) is the case's from now on."""
        self.strategy = strategy
        if self.case.policy != strategy.policy:
            self.case = replace(self.case, policy=strategy.policy)

    def set_debt_terms(self, terms: DebtTerms) -> None:
        """Fix how the debt grows and is paid off (once the case knows its policy)."""
        self.debt = replace(self.current_debt, terms=terms)

    def accrue(self, today: date, now: datetime) -> None:
        """Post the penalty of the days up to `today`: called whenever the case acts, before
        anything that could change whether it accrues."""
        before = self.current_debt
        self.debt = before.accrued(today, accruing=self.accruing)
        self.balance_as_of = now.isoformat()
        added = self.debt.parts.penalty_minor - before.parts.penalty_minor
        if added:
            self.journal.append(
                AuditFact(
                    AuditKind.PENALTY_ACCRUED,
                    f"penalty:{today.isoformat()}",
                    {"amount_minor": added, "through": today.isoformat()},
                )
            )

    # -- idempotency -------------------------------------------------------------
    def earlier_answer(self, kind: str, message_id: str, body: object) -> dict[str, Any] | None:
        """The first answer to this message, None if new; a conflict if the id came with
        another body (a payment system reusing an id for other money must hear about it)."""
        earlier = self.answers.get(f"{kind}:{message_id}")
        if earlier is None:
            return None
        if earlier.fingerprint != fingerprint(body):
            raise InvalidInput(
                ID_FIELDS[kind], f"{message_id!r} was already used for a different {kind}"
            )
        return earlier.answer

    def _answer(
        self, kind: str, message_id: str, body: object, answer: dict[str, Any]
    ) -> dict[str, Any]:
        self.answers[f"{kind}:{message_id}"] = Answered(fingerprint(body), answer)
        return answer

    def _check_open_for(self, kind: str, message_id: str, body: object) -> dict[str, Any] | None:
        """The earlier answer to this message; a new one is refused once the case is closed."""
        earlier = self.earlier_answer(kind, message_id, body)
        if earlier is None and self.closed:
            raise InvalidInput(ID_FIELDS[kind], "the case is closed")
        return earlier

    # -- the end -----------------------------------------------------------------
    def close(self, final_status: str, at: datetime) -> None:
        if final_status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {final_status}")
        if final_status != "written_off" and self.legal_stage not in (None, "withdrawn", "closed"):
            # Paid, settled or plan completed while with the lawyers: the file is recalled. A
            # written-off debt stays with them for recovery.
            self.legal_events.append(
                {"event_id": "recall", "event": "withdrawn", "at": at.isoformat()}
            )
            self.journal.append(
                AuditFact(AuditKind.LEGAL_RECALLED, "recall", {"status": final_status})
            )
        self.final_status = final_status
        self.closed_at = at
        self.stage = "closed"
        self.next_action = None
        self.revision += 1
        self.journal.append(AuditFact(AuditKind.CLOSED, final_status, {"status": final_status}))

    def complete(self) -> None:
        """The linger is over: the case stops taking messages; the audit log says so."""
        self.journal.append(AuditFact(AuditKind.COMPLETED, self.status, {"status": self.status}))
