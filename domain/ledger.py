"""The case's ledger: payments applied (after payoff an overpayment, after a write-off a
recovery) and payment signals rejected, each kept with the answer it got."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.audit import AuditFact, AuditKind, with_source
from domain.case_records import PaymentEntry, PaymentFact, keep_rejection
from domain.commitment_track import CommitmentTrack
from domain.debt import Adjustment
from domain.payments import Payment


class Ledger(CommitmentTrack):
    def check_payment(self, payment: Payment) -> None:
        self.earlier_answer("payment", payment.payment_id, payment)

    def take_payment(self, payment: Payment, at: datetime) -> dict[str, Any]:
        """Apply a payment, open or closed: after payoff it is an overpayment, after a
        write-off a recovery. Nothing a payment system sends is lost."""
        earlier = self.earlier_answer("payment", payment.payment_id, payment)
        if earlier is not None:
            return {**earlier, "duplicate": True}
        self.debt, allocation = self.current_debt.paid(payment.amount_minor)
        applied_minor = payment.amount_minor - allocation.overpaid_minor
        paid_off = allocation.paid.as_json()
        recovery = self.final_status == "written_off"
        self.paid_minor += applied_minor
        self.overpaid_minor += allocation.overpaid_minor
        if recovery:
            self.recovered_minor += applied_minor
        self.payments.append(
            PaymentEntry(
                payment_id=payment.payment_id,
                amount_minor=payment.amount_minor,
                at=payment.paid_at or at.isoformat(),
                source=payment.source,
                applied_minor=applied_minor,
                overpaid_minor=allocation.overpaid_minor,
                recovery=recovery,
                allocation=paid_off,
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
                applied_minor=applied_minor,
                overpaid_minor=allocation.overpaid_minor,
                outstanding_after_minor=self.outstanding_minor,
                allocation=paid_off,
            )
        )
        self.revision += 1
        if not self.closed:
            self._keep_commitments(applied_minor, at)
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
                "overpaid_minor": allocation.overpaid_minor,
                "status": self.status,
                "allocation": paid_off,
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

    # -- adjustments from the loan system ------------------------------------------
    def check_adjustment(self, adjustment: Adjustment) -> None:
        if self._check_open_for("adjustment", adjustment.adjustment_id, adjustment) is None:
            self.current_debt.adjusted(adjustment.component, adjustment.amount_minor)

    def take_adjustment(self, adjustment: Adjustment, at: datetime) -> dict[str, Any]:
        """Post an adjustment to one part of the debt; a debt adjusted to nothing is closed:
        paid if anything was paid, else cancelled."""
        self.check_adjustment(adjustment)
        earlier = self.earlier_answer("adjustment", adjustment.adjustment_id, adjustment)
        if earlier is not None:
            return earlier
        self.debt = self.current_debt.adjusted(adjustment.component, adjustment.amount_minor)
        self.revision += 1
        self.journal.append(
            AuditFact(
                AuditKind.BALANCE_ADJUSTED,
                adjustment.adjustment_id,
                with_source(
                    {
                        "component": adjustment.component,
                        "amount_minor": adjustment.amount_minor,
                        "reason": adjustment.reason,
                        "outstanding_minor": self.outstanding_minor,
                    },
                    adjustment.source,
                ),
            )
        )
        if self.outstanding_minor == 0:
            self.close("paid" if self.paid_minor else "cancelled", at)
        return self._answer(
            "adjustment",
            adjustment.adjustment_id,
            adjustment,
            {
                "adjustment_id": adjustment.adjustment_id,
                "applied": True,
                "outstanding_minor": self.outstanding_minor,
                "status": self.status,
            },
        )

    def reject_adjustment(self, raw: Any, reason: str) -> None:
        """Keep an adjustment signal the case cannot take, with the reason."""
        adjustment_id, reason = keep_rejection(
            self.rejected_adjustments, "adjustment_id", raw, reason
        )
        self.rejected_adjustment_count += 1
        self.journal.append(
            AuditFact(
                AuditKind.ADJUSTMENT_REJECTED,
                f"{adjustment_id}:{self.rejected_adjustment_count}",
                {"reason": reason},
            )
        )
