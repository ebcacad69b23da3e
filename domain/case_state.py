"""The state of one collection case and the rules that change it.

The workflow owns one `CaseState`; every message handler calls a method here, so
the rules (de-duplication, payment application, holds) are plain functions that
unit tests exercise without Temporal. Every answer is kept by its caller-chosen id:
the same id again returns the first answer and changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from domain.case import CaseInput
from domain.clock import bucket
from domain.errors import InvalidInput
from domain.messages import HoldRequest, LegalEvent, Outcome
from domain.payments import Payment, apply_payment
from domain.policy import STAGES as LADDER_STAGES

FINAL_STATUSES = ("paid", "plan_completed", "settled", "written_off", "cancelled")
OPEN_STATUSES = ("active", "promise_pending", "in_plan", "on_hold")
CASE_STATUSES = (*OPEN_STATUSES, *FINAL_STATUSES)
# A case's stages in the order it passes them.
CASE_STAGES = ("preparation", "grace", *LADDER_STAGES, "closed")


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


@dataclass
class Hold:
    hold_id: str
    kind: str
    reason: str
    placed_at: str


@dataclass
class CaseState:
    case: CaseInput
    stage: str = "preparation"
    final_status: str | None = None
    paid_minor: int = 0
    overpaid_minor: int = 0
    holds: dict[str, Hold] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    payments: list[PaymentEntry] = field(default_factory=list)
    rejected_payments: list[dict[str, Any]] = field(default_factory=list)
    legal_events: list[dict[str, Any]] = field(default_factory=list)
    next_action: dict[str, Any] | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    def answered(self, kind: str, message_id: str) -> dict[str, Any] | None:
        return self.answers.get(f"{kind}:{message_id}")

    def _answer(self, kind: str, message_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        self.answers[f"{kind}:{message_id}"] = answer
        return answer

    def contact(self, attempt_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.attempt_id == attempt_id), None)

    # -- changes -----------------------------------------------------------------
    def record_payment(self, payment: Payment, at: str) -> dict[str, Any]:
        earlier = self.answered("payment", payment.payment_id)
        if earlier is not None:
            return {**earlier, "duplicate": True}
        application = apply_payment(self.outstanding_minor, payment.amount_minor)
        self.paid_minor += application.applied_minor
        self.overpaid_minor += application.overpaid_minor
        self.payments.append(
            PaymentEntry(
                payment_id=payment.payment_id,
                amount_minor=payment.amount_minor,
                at=payment.paid_at or at,
                source=payment.source,
                applied_minor=application.applied_minor,
                overpaid_minor=application.overpaid_minor,
            )
        )
        if self.outstanding_minor == 0 and not self.closed:
            self.close("paid")
        return self._answer(
            "payment",
            payment.payment_id,
            {
                "payment_id": payment.payment_id,
                "applied": True,
                "duplicate": False,
                "outstanding_minor": self.outstanding_minor,
                "overpaid_minor": application.overpaid_minor,
                "status": self.status,
            },
        )

    def reject_payment(self, raw: Any, reason: str) -> dict[str, Any]:
        payment_id = raw.get("payment_id") if isinstance(raw, dict) else None
        entry = {
            "payment_id": payment_id if isinstance(payment_id, str) else None,
            "reason": reason,
        }
        self.rejected_payments.append(entry)
        return entry

    def place_hold(self, hold: HoldRequest, at: str) -> dict[str, Any]:
        earlier = self.answered("hold", hold.hold_id)
        if earlier is not None:
            return earlier
        self.holds[hold.hold_id] = Hold(hold.hold_id, hold.kind, hold.reason, at)
        return self._answer("hold", hold.hold_id, {"hold_id": hold.hold_id, "status": self.status})

    def check_release(self, hold_id: str) -> None:
        if self.answered("release", hold_id) is None and hold_id not in self.holds:
            raise InvalidInput("hold_id", f"no hold {hold_id!r} is on this case")

    def release_hold(self, hold_id: str) -> dict[str, Any]:
        earlier = self.answered("release", hold_id)
        if earlier is not None:
            return earlier
        self.check_release(hold_id)
        del self.holds[hold_id]
        return self._answer("release", hold_id, {"hold_id": hold_id, "status": self.status})

    def check_outcome(self, outcome: Outcome, channel: str) -> None:
        if self.answered(channel, outcome.ref_id) is not None:
            return
        contact = self.contact(outcome.ref_id)
        if contact is None or contact.channel != channel:
            field_name = "attempt_id" if channel == "call" else "visit_id"
            raise InvalidInput(field_name, f"no {channel} {outcome.ref_id!r} on this case")

    def record_outcome(self, outcome: Outcome, channel: str) -> dict[str, Any]:
        earlier = self.answered(channel, outcome.ref_id)
        if earlier is not None:
            return earlier
        self.check_outcome(outcome, channel)
        contact = self.contact(outcome.ref_id)
        assert contact is not None  # check_outcome guarantees it
        contact.result = outcome.outcome
        contact.note = outcome.note
        id_field = "attempt_id" if channel == "call" else "visit_id"
        return self._answer(
            channel,
            outcome.ref_id,
            {id_field: outcome.ref_id, "recorded": True, "status": self.status},
        )

    def check_legal_event(self, event: LegalEvent) -> None:
        if self.answered("legal", event.event_id) is None and not any(
            c.channel == "legal" for c in self.contacts
        ):
            raise InvalidInput("event", "the case has not been handed over to legal")

    def record_legal_event(self, event: LegalEvent, at: str) -> dict[str, Any]:
        earlier = self.answered("legal", event.event_id)
        if earlier is not None:
            return earlier
        self.check_legal_event(event)
        self.legal_events.append({**asdict(event), "at": at})
        return self._answer(
            "legal",
            event.event_id,
            {"event_id": event.event_id, "recorded": True, "status": self.status},
        )

    def close(self, final_status: str) -> None:
        if final_status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {final_status}")
        self.final_status = final_status
        self.stage = "closed"
        self.next_action = None

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
            "policy": self.case.policy,
            "portfolio": self.case.portfolio,
            "holds": [asdict(hold) for hold in self.holds.values()],
            "promise": None,
            "plan": None,
            "next_action": self.next_action,
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
                }
                for p in self.payments
            ],
            "rejected_payments": list(self.rejected_payments),
            "legal_events": list(self.legal_events),
        }
