"""The case's ledger: payments applied (after payoff an overpayment, after a write-off a
recovery) and payment signals rejected, each kept with the answer it got."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.case_records import PaymentEntry, PaymentFact, keep_rejection
from domain.commitment_track import CommitmentTrack
from domain.payments import Payment, apply_payment


class Ledger(CommitmentTrack):
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
        payment_id, reason = keep_rejection(self.rejected_payments, "payment_id", raw, reason)
        self.rejected_payment_count += 1
        self.journal.append(
            PaymentFact(
                record_id=record_id, status="rejected", payment_id=payment_id, reason=reason
            )
        )
