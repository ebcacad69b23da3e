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

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from domain.case import CaseInput
from domain.clock import bucket
from domain.errors import InvalidInput
from domain.fields import storable_id
from domain.messages import HoldRequest, LegalEvent, Outcome
from domain.payments import Payment, apply_payment
from domain.policy import STAGES as LADDER_STAGES

FINAL_STATUSES = ("paid", "plan_completed", "settled", "written_off", "cancelled")
OPEN_STATUSES = ("active", "promise_pending", "in_plan", "on_hold")
CASE_STATUSES = (*OPEN_STATUSES, *FINAL_STATUSES)
# A case's stages in the order it passes them.
CASE_STAGES = ("preparation", "grace", *LADDER_STAGES, "closed")
# The field that names each kind of message, for errors about its id.
ID_FIELDS = {
    "payment": "payment_id",
    "hold": "hold_id",
    "release": "hold_id",
    "call": "attempt_id",
    "field_visit": "visit_id",
    "legal": "event_id",
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


Fact = AuditFact | PaymentFact


@dataclass(frozen=True)
class Answered:
    body: object
    answer: dict[str, Any]


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
    holds: dict[str, Hold] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    payments: list[PaymentEntry] = field(default_factory=list)
    rejected_payments: list[dict[str, Any]] = field(default_factory=list)
    rejected_plans: list[dict[str, Any]] = field(default_factory=list)
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
        return "on_hold" if self.holds else "active"

    def contact(self, attempt_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.attempt_id == attempt_id), None)

    # -- idempotency -------------------------------------------------------------
    def earlier_answer(self, kind: str, message_id: str, body: object) -> dict[str, Any] | None:
        """The first answer to this message, None if new; a conflict if the id came with
        another body (a payment system reusing an id for other money must hear about it)."""
        earlier = self.answers.get(f"{kind}:{message_id}")
        if earlier is None:
            return None
        if earlier.body != body:
            raise InvalidInput(
                ID_FIELDS[kind], f"{message_id!r} was already used for a different {kind}"
            )
        return earlier.answer

    def _answer(
        self, kind: str, message_id: str, body: object, answer: dict[str, Any]
    ) -> dict[str, Any]:
        self.answers[f"{kind}:{message_id}"] = Answered(body, answer)
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
        self.rejected_payments.append({"payment_id": payment_id, "reason": reason})
        self.journal.append(
            PaymentFact(
                record_id=record_id, status="rejected", payment_id=payment_id, reason=reason
            )
        )

    def reject_plan(self, raw: Any, reason: str) -> None:
        """Keep a plan signal the case cannot take, with the reason: nothing sent is lost."""
        plan_id = storable_id(raw.get("plan_id") if isinstance(raw, dict) else None)
        self.rejected_plans.append({"plan_id": plan_id, "reason": reason})
        self.journal.append(
            AuditFact("plan_rejected", f"{plan_id}:{len(self.rejected_plans)}", {"reason": reason})
        )

    # -- holds -------------------------------------------------------------------
    def check_hold(self, hold: HoldRequest) -> None:
        if self.earlier_answer("hold", hold.hold_id, hold) is None and self.closed:
            raise InvalidInput("hold_id", "the case is closed")

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

    def record_outcome(self, outcome: Outcome, channel: str, at: datetime) -> dict[str, Any]:
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

    def check_legal_event(self, event: LegalEvent) -> None:
        if self.earlier_answer("legal", event.event_id, event) is None and not any(
            c.channel == "legal" for c in self.contacts
        ):
            raise InvalidInput("event", "the case has not been handed over to legal")

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

    def finish_step(self, index: int, contact: Contact) -> None:
        self.contacts.append(contact)
        self.next_step = index + 1
        self.not_before = None

    def note_unsent(self, attempt_id: str, why: str, *, not_before: datetime | None) -> None:
        """A contact that did not leave (cancelled by a hold or a payment, or retried until its
        window closed): on record, and the step is decided again, not before `not_before`."""
        self.not_before = not_before
        self.unsent += 1
        self.journal.append(
            AuditFact("contact_not_sent", f"{attempt_id}:{self.unsent}", {"why": why})
        )

    def close(self, final_status: str, at: datetime) -> None:
        if final_status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {final_status}")
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
        legal_referred = any(c.channel == "legal" for c in self.contacts)
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
            "promise": None,
            "broken_promises": 0,
            "plan": None,
            "settlement": None,
            "legal": (
                {
                    "stage": self.legal_events[-1]["event"] if self.legal_events else "referred",
                    "events": list(self.legal_events),
                }
                if legal_referred
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
        }
