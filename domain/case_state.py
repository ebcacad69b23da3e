"""The state of one collection case and the rules that change it.

The workflow owns one `CaseState`; every message handler calls a method here, so the rules
(de-duplication, conflicts, payment application, holds, outcomes) are plain functions that unit
tests exercise without Temporal. Every answer is kept by its caller-chosen id with the message
it answered: the same message again returns the first answer and changes nothing; the same id
with another body is a conflict (`InvalidInput` naming the id field).

What must reach the case database is appended to `journal` (payments, rejected messages, audit
events); the workflow drains it. `revision` counts the changes that may alter what the case does
next (a payment, a hold, a release), so the workflow knows when to decide again.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from domain import commitments
from domain.case import CaseInput
from domain.clock import bucket
from domain.commitments import (
    CommitmentRules,
    Installment,
    Plan,
    PlanRequest,
    Promise,
    PromiseRequest,
    Settlement,
    SettlementRequest,
)
from domain.errors import InvalidInput
from domain.fields import storable_id
from domain.messages import LEGAL_MOVES, HoldRequest, LegalEvent, Outcome
from domain.payments import Payment, apply_payment
from domain.policy import STAGES as LADDER_STAGES

FINAL_STATUSES = ("paid", "plan_completed", "settled", "written_off", "cancelled")
OPEN_STATUSES = ("active", "promise_pending", "in_plan", "on_hold")
CASE_STATUSES = (*OPEN_STATUSES, *FINAL_STATUSES)
# A case's stages in the order it passes them.
CASE_STAGES = ("preparation", "grace", *LADDER_STAGES, "closed")
# A flood of invalid signals must not grow the case without bound: its state keeps the latest
# rejections of each kind (every one of them reaches the case database through the journal) and
# counts the rest; a rejection's reason is cut to a length that cannot bloat the history.
REJECTIONS_KEPT = 50
REASON_MAX = 500
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
}


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
    step_index: int
    due_at: datetime
    sla: timedelta
    requeues: int = 0
    # open (awaiting an outcome), awaiting_promise (the borrower promised on the call),
    # done, expired
    state: str = "open"


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


@dataclass
class Hold:
    hold_id: str
    kind: str
    reason: str
    placed_at: str


@dataclass(frozen=True)
class AuditFact:
    """A line for the case's audit log; (kind, ref_id) is unique within a case."""

    kind: str
    ref_id: str
    detail: dict[str, str | int | None]
    # When it was first handed to the writer (set by the workflow), so a batch written late, or
    # written again after a failure, keeps the moment it happened.
    at: str | None = None


@dataclass(frozen=True)
class PaymentFact:
    """A payment as received, applied or rejected; `record_id` is unique within a case."""

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


Fact = AuditFact | PaymentFact


@dataclass(frozen=True)
class Answered:
    """The first answer to a message, with a fingerprint of the message it answered (not the
    message itself: the answers travel with the case when it continues as new)."""

    fingerprint: str
    answer: dict[str, Any]


def fingerprint(body: object) -> str:
    """A short digest of a parsed message (a frozen dataclass of plain values, whose repr is
    stable), enough to tell the same message from another one under the same id."""
    return hashlib.sha256(repr(body).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def bounded_reason(reason: str) -> str:
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


@dataclass
class CaseState:
    case: CaseInput
    stage: str = "preparation"
    final_status: str | None = None
    closed_at: datetime | None = None
    paid_minor: int = 0
    overpaid_minor: int = 0
    recovered_minor: int = 0
    # The index of the next ladder step to run; steps before it ran or were skipped.
    next_step: int = 0
    # A contact that could not leave in its window is not tried again before this moment.
    not_before: datetime | None = None
    promise: Promise | None = None
    broken_promises: int = 0
    plan: Plan | None = None
    settlement: Settlement | None = None
    # After a broken plan, collection resumes at the stage where the plan began.
    resume_stage: str | None = None
    call_tasks: dict[str, CallTask] = field(default_factory=dict)
    visits: dict[str, VisitBooking] = field(default_factory=dict)
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
    legal_events: list[dict[str, Any]] = field(default_factory=list)
    next_action: dict[str, Any] | None = None
    answers: dict[str, Answered] = field(default_factory=dict)
    journal: list[Fact] = field(default_factory=list)
    revision: int = 0
    unsent: int = 0

    # -- derived -----------------------------------------------------------------
    @property
    def outstanding_minor(self) -> int:
        return max(0, self.case.overdue_amount_minor - self.paid_minor)

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

    def contact(self, attempt_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.attempt_id == attempt_id), None)

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

    # -- payments ----------------------------------------------------------------
    def check_payment(self, payment: Payment) -> None:
        self.earlier_answer("payment", payment.payment_id, payment)

    def take_payment(self, payment: Payment, at: datetime) -> dict[str, Any]:
        """Apply a payment, open or closed: after payoff it is an overpayment, after a
        write-off a recovery. Nothing a payment system sends is lost."""
        earlier = self.earlier_answer("payment", payment.payment_id, payment)
        if earlier is not None:
            return {**earlier, "duplicate": True}
        application = apply_payment(self.outstanding_minor, payment.amount_minor)
        recovery = self.final_status == "written_off"
        self.paid_minor += application.applied_minor
        self.overpaid_minor += application.overpaid_minor
        if recovery:
            self.recovered_minor += application.applied_minor
        self.payments.append(
            PaymentEntry(
                payment_id=payment.payment_id,
                amount_minor=payment.amount_minor,
                at=payment.paid_at or at.isoformat(),
                source=payment.source,
                applied_minor=application.applied_minor,
                overpaid_minor=application.overpaid_minor,
                recovery=recovery,
            )
        )
        self.journal.append(
            PaymentFact(
                record_id=payment.payment_id,
                status="applied",
                payment_id=payment.payment_id,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                paid_at=payment.paid_at,
                source=payment.source,
                applied_minor=application.applied_minor,
                overpaid_minor=application.overpaid_minor,
                outstanding_after_minor=self.outstanding_minor,
            )
        )
        self.revision += 1
        if not self.closed:
            self._keep_commitments(application.applied_minor, at)
        if self.outstanding_minor == 0 and not self.closed:
            self.close("paid", at)
        return self._answer(
            "payment",
            payment.payment_id,
            payment,
            {
                "payment_id": payment.payment_id,
                "applied": True,
                "duplicate": False,
                "outstanding_minor": self.outstanding_minor,
                "overpaid_minor": application.overpaid_minor,
                "status": self.status,
            },
        )

    def reject_payment(self, raw: Any, reason: str, record_id: str) -> None:
        """Keep an invalid payment signal with its reason; an absurd id is stored shortened."""
        payment_id = storable_id(raw.get("payment_id") if isinstance(raw, dict) else None)
        reason = bounded_reason(reason)
        self.rejected_payment_count += 1
        _keep_latest(self.rejected_payments, {"payment_id": payment_id, "reason": reason})
        self.journal.append(
            PaymentFact(
                record_id=record_id, status="rejected", payment_id=payment_id, reason=reason
            )
        )

    def _keep_commitments(self, applied_minor: int, at: datetime) -> None:
        """What a payment does to the borrower's commitments: it counts toward a pending
        promise, is allocated to the plan's installments in order, and toward a settlement."""
        for booking in self.visits.values():
            if booking.state == "paid_on_site":
                booking.state = "done"
                self.journal.append(AuditFact("on_site_payment_received", booking.visit_id, {}))
        promise = self.pending_promise
        if promise is not None:
            promise.paid_toward_minor = self.paid_minor - promise.paid_before_minor
            if promise.paid_toward_minor >= promise.amount_minor:
                promise.state = "kept"
                self.journal.append(AuditFact("promise_kept", promise.promise_id, {}))
        plan = self.active_plan
        if plan is not None:
            commitments.allocate(plan.installments, applied_minor)
            if all(i.state == "paid" for i in plan.installments):
                plan.state = "completed"
                self.journal.append(AuditFact("plan_completed", plan.plan_id, {}))
                self.close("plan_completed", at)
                return
        settlement = self.pending_settlement
        if settlement is not None and (
            self.paid_minor - settlement.paid_before_minor >= settlement.amount_minor
        ):
            settlement.state = "paid"
            settlement.forgiven_minor = self.outstanding_minor
            self.journal.append(
                AuditFact(
                    "settlement_paid",
                    settlement.settlement_id,
                    {"forgiven_minor": settlement.forgiven_minor},
                )
            )
            self.close("settled", at)

    # -- commitments -------------------------------------------------------------
    def _check_open_for(self, kind: str, message_id: str, body: object) -> dict[str, Any] | None:
        earlier = self.earlier_answer(kind, message_id, body)
        if earlier is None and self.closed:
            raise InvalidInput(ID_FIELDS[kind], "the case is closed")
        return earlier

    def check_promise(self, request: PromiseRequest, rules: CommitmentRules, today: date) -> None:
        if self._check_open_for("promise", request.promise_id, request) is not None:
            return
        if self.active_plan is not None:
            raise InvalidInput("promise_id", "an installment plan is active")
        if self.pending_promise is not None:
            raise InvalidInput(
                "promise_id", f"promise {self.pending_promise.promise_id!r} is still pending"
            )
        commitments.check_promise(
            request,
            rules,
            today=today,
            outstanding_minor=self.outstanding_minor,
            broken_promises=self.broken_promises,
        )

    def take_promise(
        self, request: PromiseRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_promise(request, rules, today)
        earlier = self.earlier_answer("promise", request.promise_id, request)
        if earlier is not None:
            return earlier
        for task in self.call_tasks.values():
            if task.state == "awaiting_promise":
                task.state = "done"  # the promise made on the call has arrived
        self.promise = Promise(
            promise_id=request.promise_id,
            amount_minor=request.amount_minor,
            due_date=request.due_date,
            paid_before_minor=self.paid_minor,
        )
        return self._accepted(
            "promise",
            request.promise_id,
            request,
            AuditFact(
                "promise_made",
                request.promise_id,
                {"amount_minor": request.amount_minor, "due_date": request.due_date.isoformat()},
            ),
        )

    def check_plan(self, request: PlanRequest, rules: CommitmentRules, today: date) -> None:
        if self._check_open_for("plan", request.plan_id, request) is not None:
            return
        if self.active_plan is not None:
            raise InvalidInput("plan_id", f"plan {self.active_plan.plan_id!r} is already active")
        if self.pending_promise is not None:
            raise InvalidInput(
                "plan_id", f"promise {self.pending_promise.promise_id!r} is still pending"
            )
        commitments.check_plan(
            request, rules, today=today, outstanding_minor=self.outstanding_minor
        )

    def take_plan(
        self, request: PlanRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_plan(request, rules, today)
        earlier = self.earlier_answer("plan", request.plan_id, request)
        if earlier is not None:
            return earlier
        self.plan = Plan(
            plan_id=request.plan_id,
            installments=[Installment(i.due_date, i.amount_minor) for i in request.installments],
            began_in_stage=self.stage,
        )
        return self._accepted(
            "plan",
            request.plan_id,
            request,
            AuditFact(
                "plan_agreed",
                request.plan_id,
                {
                    "installments": len(request.installments),
                    "last_due_date": request.installments[-1].due_date.isoformat(),
                },
            ),
        )

    def check_settlement(
        self, request: SettlementRequest, rules: CommitmentRules, today: date
    ) -> None:
        if self._check_open_for("settlement", request.settlement_id, request) is not None:
            return
        if self.active_plan is not None:
            raise InvalidInput("settlement_id", "an installment plan is active")
        if self.pending_settlement is not None:
            raise InvalidInput(
                "settlement_id",
                f"settlement {self.pending_settlement.settlement_id!r} is still pending",
            )
        commitments.check_settlement(
            request, rules, today=today, outstanding_minor=self.outstanding_minor
        )

    def take_settlement(
        self, request: SettlementRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_settlement(request, rules, today)
        earlier = self.earlier_answer("settlement", request.settlement_id, request)
        if earlier is not None:
            return earlier
        self.settlement = Settlement(
            settlement_id=request.settlement_id,
            amount_minor=request.amount_minor,
            due_date=request.due_date,
            paid_before_minor=self.paid_minor,
        )
        return self._accepted(
            "settlement",
            request.settlement_id,
            request,
            AuditFact(
                "settlement_agreed",
                request.settlement_id,
                {"amount_minor": request.amount_minor, "due_date": request.due_date.isoformat()},
            ),
        )

    def _accepted(
        self, kind: str, message_id: str, request: object, fact: AuditFact
    ) -> dict[str, Any]:
        """A commitment taken: it changes what the case does next, is on record, and its
        answer is kept for a resend."""
        self.revision += 1
        self.journal.append(fact)
        return self._answer(
            kind,
            message_id,
            request,
            {ID_FIELDS[kind]: message_id, "accepted": True, "status": self.status},
        )

    def lapse(self, kind: str) -> None:
        """A commitment's time ran out unkept: a promise is broken (with its shortfall), a
        plan is broken by its missed installment, a settlement lapses; collection resumes."""
        if kind.startswith("call "):
            self.expire_call(kind.removeprefix("call "))
        elif kind.startswith("visit "):
            self.settle_visit(kind.removeprefix("visit "))
        elif kind == "promise" and self.pending_promise is not None:
            promise = self.pending_promise
            promise.state = "broken"
            promise.shortfall_minor = promise.amount_minor - promise.paid_toward_minor
            self.broken_promises += 1
            self.journal.append(
                AuditFact(
                    "promise_broken",
                    promise.promise_id,
                    {"shortfall_minor": promise.shortfall_minor},
                )
            )
        elif kind == "plan" and self.active_plan is not None:
            plan = self.active_plan
            missed = plan.next_due()
            assert missed is not None
            missed.state = "missed"
            plan.state = "broken"
            self.resume_stage = plan.began_in_stage
            self.journal.append(
                AuditFact("plan_broken", plan.plan_id, {"missed": missed.due_date.isoformat()})
            )
        elif kind == "settlement" and self.pending_settlement is not None:
            settlement = self.pending_settlement
            settlement.state = "lapsed"
            self.journal.append(AuditFact("settlement_lapsed", settlement.settlement_id, {}))
        self.revision += 1

    def reject_plan(self, raw: Any, reason: str) -> None:
        """Keep a plan signal the case cannot take, with the reason: nothing sent is lost."""
        plan_id = storable_id(raw.get("plan_id") if isinstance(raw, dict) else None)
        reason = bounded_reason(reason)
        self.rejected_plan_count += 1
        _keep_latest(self.rejected_plans, {"plan_id": plan_id, "reason": reason})
        self.journal.append(
            AuditFact("plan_rejected", f"{plan_id}:{self.rejected_plan_count}", {"reason": reason})
        )

    # -- holds -------------------------------------------------------------------
    def check_hold(self, hold: HoldRequest) -> None:
        self._check_open_for("hold", hold.hold_id, hold)

    def place_hold(self, hold: HoldRequest, at: datetime) -> dict[str, Any]:
        self.check_hold(hold)
        earlier = self.earlier_answer("hold", hold.hold_id, hold)
        if earlier is not None:
            return earlier
        self.holds[hold.hold_id] = Hold(hold.hold_id, hold.kind, hold.reason, at.isoformat())
        self.revision += 1
        self.journal.append(
            AuditFact("hold_placed", hold.hold_id, {"kind": hold.kind, "reason": hold.reason})
        )
        return self._answer(
            "hold", hold.hold_id, hold, {"hold_id": hold.hold_id, "status": self.status}
        )

    def check_release(self, hold_id: str) -> None:
        if self.earlier_answer("release", hold_id, hold_id) is None and hold_id not in self.holds:
            raise InvalidInput("hold_id", f"no hold {hold_id!r} is on this case")

    def release_hold(self, hold_id: str) -> dict[str, Any]:
        self.check_release(hold_id)
        earlier = self.earlier_answer("release", hold_id, hold_id)
        if earlier is not None:
            return earlier
        del self.holds[hold_id]
        self.revision += 1
        self.journal.append(AuditFact("hold_released", hold_id, {}))
        return self._answer(
            "release", hold_id, hold_id, {"hold_id": hold_id, "status": self.status}
        )

    # -- outcomes and legal events -----------------------------------------------
    def check_outcome(self, outcome: Outcome, channel: str) -> None:
        if self.earlier_answer(channel, outcome.ref_id, outcome) is not None:
            return
        contact = self.contact(outcome.ref_id)
        if contact is None or contact.channel != channel:
            raise InvalidInput(ID_FIELDS[channel], f"no {channel} {outcome.ref_id!r} on this case")

    def record_outcome(
        self, outcome: Outcome, channel: str, at: datetime, *, outcome_acts: bool = True
    ) -> dict[str, Any]:
        """Record an agent's or visitor's outcome. With `outcome_acts` (cases started before
        outcomes acted replay without), a wrong number retires the phone and a visit outcome
        asks for a re-booking, a skip trace or a payment."""
        self.check_outcome(outcome, channel)
        earlier = self.earlier_answer(channel, outcome.ref_id, outcome)
        if earlier is not None:
            return earlier
        contact = self.contact(outcome.ref_id)
        assert contact is not None  # check_outcome guarantees it
        contact.result = outcome.outcome
        contact.note = outcome.note
        kind = "contact_outcome" if channel == "call" else "visit_outcome"
        self.journal.append(
            AuditFact(kind, outcome.ref_id, {"outcome": outcome.outcome, "note": outcome.note})
        )
        task = self.call_tasks.get(outcome.ref_id) if channel == "call" else None
        if task is not None and task.state in ("open", "awaiting_promise"):
            # A promise is expected within the SLA, or the task comes back to the queue.
            task.state = "awaiting_promise" if outcome.outcome == "promised" else "done"
            if outcome.outcome == "promised":
                task.due_at = at + task.sla
        booking = self.visits.get(outcome.ref_id) if channel == "field_visit" else None
        if booking is not None and booking.state == "booked" and outcome_acts:
            booking.outcome_at = at
            booking.state = (
                outcome.outcome if outcome.outcome in ("not_home", "paid_on_site") else "done"
            )
            if outcome.outcome in ("not_home", "paid_on_site"):
                self.revision += 1
            if outcome.outcome == "moved":
                # The borrower moved: somebody has to find the new address.
                self.journal.append(AuditFact("skip_trace_opened", outcome.ref_id, {}))
        if outcome.outcome == "wrong_number" and outcome_acts and not self.phone_unusable:
            self.phone_unusable = True
            self.revision += 1
            self.journal.append(
                AuditFact("phone_unusable", outcome.ref_id, {"why": "wrong_number on a call"})
            )
        if outcome.outcome == "disputed" and not self.closed:
            # A disputed debt stops collection until an operator resolves it.
            self.place_hold(
                HoldRequest(
                    hold_id=f"dispute-{outcome.ref_id}",
                    kind="dispute",
                    reason=f"borrower disputed the debt on call {outcome.ref_id}",
                ),
                at,
            )
        return self._answer(
            channel,
            outcome.ref_id,
            outcome,
            {ID_FIELDS[channel]: outcome.ref_id, "recorded": True, "status": self.status},
        )

    @property
    def legal_stage(self) -> str | None:
        """Where the legal track stands: None before the hand-off, then `referred`, then the
        latest event."""
        if not any(c.channel == "legal" for c in self.contacts):
            return None
        return self.legal_events[-1]["event"] if self.legal_events else "referred"

    def check_legal_event(self, event: LegalEvent) -> None:
        if self.earlier_answer("legal", event.event_id, event) is not None:
            return
        stage = self.legal_stage
        if stage is None:
            raise InvalidInput("event", "the case has not been handed over to legal")
        allowed = LEGAL_MOVES[stage]
        if event.event not in allowed:
            raise InvalidInput(
                "event",
                f"cannot follow {stage}"
                + (f" (next may be: {', '.join(allowed)})" if allowed else " (the file is closed)"),
            )

    def record_legal_event(self, event: LegalEvent, at: datetime) -> dict[str, Any]:
        self.check_legal_event(event)
        earlier = self.earlier_answer("legal", event.event_id, event)
        if earlier is not None:
            return earlier
        self.legal_events.append(
            {"event_id": event.event_id, "event": event.event, "at": at.isoformat()}
        )
        self.journal.append(
            AuditFact("legal_event", event.event_id, {"event": event.event, "note": event.note})
        )
        return self._answer(
            "legal",
            event.event_id,
            event,
            {"event_id": event.event_id, "recorded": True, "status": self.status},
        )

    # -- the ladder --------------------------------------------------------------
    def begin_step(self, index: int, stage: str, skipped: tuple[int, ...], dpd: int) -> None:
        """A step starts: the case enters its stage; the steps it overtook are on record."""
        self.stage = stage
        for step in skipped:
            self.journal.append(AuditFact("step_skipped", f"{index}:{step}", {"dpd": dpd}))

    def finish_step(
        self,
        index: int,
        contact: Contact,
        *,
        call_sla: timedelta | None = None,
        requeue_of: str | None = None,
    ) -> None:
        """A step's contact was made. A call task gets its SLA; a re-queued call task replaces
        the expired one and leaves the ladder where it was."""
        self.contacts.append(contact)
        earlier = self.call_tasks.get(requeue_of) if requeue_of else None
        if earlier is not None:
            self.expire_call(earlier.attempt_id)
        earlier_visit = self.visits.get(requeue_of) if requeue_of else None
        if earlier_visit is not None:
            earlier_visit.state = "done"
        if contact.channel == "field_visit" and contact.result == "booked":
            self.visits[contact.attempt_id] = VisitBooking(
                visit_id=contact.attempt_id,
                step_index=index,
                rebooks=earlier_visit.rebooks + 1 if earlier_visit else 0,
            )
        if contact.channel == "call" and contact.result == "queued" and call_sla is not None:
            self.call_tasks[contact.attempt_id] = CallTask(
                attempt_id=contact.attempt_id,
                step_index=index,
                due_at=datetime.fromisoformat(contact.at) + call_sla,
                sla=call_sla,
                requeues=earlier.requeues + 1 if earlier else 0,
            )
        if earlier is None and earlier_visit is None:
            self.next_step = index + 1
        self.not_before = None
        self.resume_stage = None

    def skip_step(self, index: int, why: str) -> None:
        """A step that cannot be carried out (no usable phone for a call): on record, passed."""
        self.next_step = index + 1
        self.journal.append(AuditFact("step_skipped", f"{index}:{index}", {"why": why}))

    def requeue_number(self, requeue_of: str) -> int:
        """The number of the re-queued call task or re-booked visit that replaces `requeue_of`."""
        if requeue_of in self.call_tasks:
            return self.call_tasks[requeue_of].requeues + 1
        return self.visits[requeue_of].rebooks + 1

    def settle_visit(self, visit_id: str) -> None:
        """A visit that asks nothing more: not home once too often, or no payment came after
        `paid_on_site`."""
        booking = self.visits[visit_id]
        why = (
            "no payment after paid_on_site"
            if booking.state == "paid_on_site"
            else ("not home: re-booking limit reached")
        )
        booking.state = "done"
        self.journal.append(AuditFact("visit_settled", visit_id, {"why": why}))

    def expire_call(self, attempt_id: str) -> None:
        """A call task's SLA passed with no outcome (or no promise after `promised`)."""
        task = self.call_tasks[attempt_id]
        task.state = "expired"
        self.journal.append(AuditFact("call_expired", attempt_id, {"requeues": task.requeues}))

    def note_unsent(
        self, attempt_id: str, why: str, *, not_before: datetime | None, rule: str | None = None
    ) -> None:
        """A contact that did not leave (cancelled by a hold or a payment, retried until its
        window closed, or deferred by a cap counted over all of the borrower's loans): on
        record, with the rule that held it back, and the step is decided again, not before
        `not_before`."""
        self.not_before = not_before
        self.unsent += 1
        detail: dict[str, str | int | None] = {"why": why}
        if rule is not None:
            detail["rule"] = rule
        self.journal.append(AuditFact("contact_not_sent", f"{attempt_id}:{self.unsent}", detail))

    def note_deferred(self, step_index: int, channel: str, rule: str, until: datetime) -> None:
        """A step due now is held back by `rule` (the contact window, a cap) until `until`:
        on record, once for each such decision."""
        key = f"{step_index}:{channel}:{rule}:{until.isoformat()}"
        if key == self.last_deferral:
            return
        self.last_deferral = key
        self.journal.append(
            AuditFact(
                "contact_deferred",
                key,
                {"rule": rule, "channel": channel, "until": until.isoformat()},
            )
        )

    def note_unreachable(self, channel: str, rule: str) -> None:
        """A contact was blocked because its channel cannot reach the borrower (`rule`:
        opt_out, undeliverable): later reminders fall back to another channel."""
        if channel in self.unreachable_channels:
            return
        self.unreachable_channels[channel] = rule
        self.journal.append(AuditFact("channel_unreachable", channel, {"rule": rule}))

    def close(self, final_status: str, at: datetime) -> None:
        if final_status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {final_status}")
        if final_status != "written_off" and self.legal_stage not in (None, "withdrawn", "closed"):
            # Paid, settled or plan completed while with the lawyers: the file is recalled. A
            # written-off debt stays with them for recovery.
            self.legal_events.append(
                {"event_id": "recall", "event": "withdrawn", "at": at.isoformat()}
            )
            self.journal.append(AuditFact("legal_recalled", "recall", {"status": final_status}))
        self.final_status = final_status
        self.closed_at = at
        self.stage = "closed"
        self.next_action = None
        self.revision += 1
        self.journal.append(AuditFact("closed", final_status, {"status": final_status}))

    def complete(self) -> None:
        """The linger is over: the case stops taking messages; the audit log says so."""
        self.journal.append(AuditFact("completed", self.status, {"status": self.status}))

    # -- views -------------------------------------------------------------------
    def status_view(self, days_past_due: int) -> dict[str, Any]:
        """The `status` query answer of the contract."""
        return {
            "loan_id": self.case.loan_id,
            "stage": self.stage,
            "status": self.status,
            "days_past_due": days_past_due,
            "bucket": bucket(days_past_due),
            "currency": self.case.currency,
            "outstanding_minor": self.outstanding_minor,
            "paid_minor": self.paid_minor,
            "overpaid_minor": self.overpaid_minor,
            "recovered_minor": self.recovered_minor,
            "policy": self.case.policy,
            "portfolio": self.case.portfolio,
            "holds": [asdict(hold) for hold in self.holds.values()],
            "promise": (
                {
                    "promise_id": self.promise.promise_id,
                    "amount_minor": self.promise.amount_minor,
                    "due_date": self.promise.due_date.isoformat(),
                    "state": self.promise.state,
                    "paid_toward_minor": self.promise.paid_toward_minor,
                    "shortfall_minor": self.promise.shortfall_minor,
                }
                if self.promise
                else None
            ),
            "broken_promises": self.broken_promises,
            "plan": (
                {
                    "plan_id": self.plan.plan_id,
                    "state": self.plan.state,
                    "began_in_stage": self.plan.began_in_stage,
                    "installments": [
                        {
                            "due_date": i.due_date.isoformat(),
                            "amount_minor": i.amount_minor,
                            "paid_minor": i.paid_minor,
                            "state": i.state,
                        }
                        for i in self.plan.installments
                    ],
                }
                if self.plan
                else None
            ),
            "settlement": (
                {
                    "settlement_id": self.settlement.settlement_id,
                    "amount_minor": self.settlement.amount_minor,
                    "due_date": self.settlement.due_date.isoformat(),
                    "state": self.settlement.state,
                    "forgiven_minor": self.settlement.forgiven_minor,
                }
                if self.settlement
                else None
            ),
            "legal": (
                {"stage": self.legal_stage, "events": list(self.legal_events)}
                if self.legal_stage is not None
                else None
            ),
            "next_action": self.next_action,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "contacts": [
                {
                    "attempt_id": c.attempt_id,
                    "channel": c.channel,
                    "template": c.template,
                    "at": c.at,
                    "result": c.result,
                }
                for c in self.contacts
            ],
            "payments": [
                {
                    "payment_id": p.payment_id,
                    "amount_minor": p.amount_minor,
                    "at": p.at,
                    "source": p.source,
                    "recovery": p.recovery,
                }
                for p in self.payments
            ],
            "rejected_payments": list(self.rejected_payments),
            "rejected_plans": list(self.rejected_plans),
            # How many there were in all: the lists above keep the latest REJECTIONS_KEPT.
            "rejected_counts": {
                "payments": self.rejected_payment_count,
                "plans": self.rejected_plan_count,
            },
        }

    # -- continue-as-new ---------------------------------------------------------
    def carried(self) -> str:
        """The whole state for the next run of the case: its JSON, compressed (a flooded
        case's unwritten records repeat themselves, and must fit one payload)."""
        return base64.b64encode(zlib.compress(_STATE.dump_json(self))).decode("ascii")

    @staticmethod
    def restored(carried: str) -> CaseState:
        """The state a previous run carried over (`carried`)."""
        return _STATE.validate_json(zlib.decompress(base64.b64decode(carried)))


def _keep_latest(kept: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    kept.append(entry)
    del kept[:-REJECTIONS_KEPT]


# Built once: pydantic reads the dataclasses' type hints, nested ones included.
_STATE: TypeAdapter[CaseState] = TypeAdapter(CaseState)
