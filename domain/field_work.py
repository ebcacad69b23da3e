"""Field work: agents' call tasks and booked field visits, and the outcomes people log.

A call task has an SLA: a promise is expected within it after `promised`, and a task with no
outcome comes back to the queue (`call_requeue_limit` times) or expires. A visit's outcome may
ask for a re-booking (`not_home`), a skip trace (`moved`) or a payment (`paid_on_site`).
A wrong number retires the phone; a dispute places a hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.audit import AuditFact, AuditKind, with_source
from domain.case_core import ID_FIELDS
from domain.errors import InvalidInput
from domain.holds import HoldRules
from domain.messages import HoldRequest, Outcome

# Visit outcomes that ask the case for more: a re-booking, or a payment within days.
VISIT_OUTCOMES_PENDING = ("not_home", "paid_on_site")


class FieldWork(HoldRules):
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
        kind = AuditKind.CONTACT_OUTCOME if channel == "call" else AuditKind.VISIT_OUTCOME
        self.journal.append(
            AuditFact(
                kind,
                outcome.ref_id,
                with_source({"outcome": outcome.outcome, "note": outcome.note}, outcome.source),
            )
        )
        if channel == "call":
            self._call_answered(outcome, at)
        elif outcome_acts:
            self._visit_reported(outcome, at)
        if outcome.outcome == "wrong_number" and outcome_acts and not self.phone_unusable:
            self.phone_unusable = True
            self.revision += 1
            self.journal.append(
                AuditFact(
                    AuditKind.PHONE_UNUSABLE, outcome.ref_id, {"why": "wrong_number on a call"}
                )
            )
        if outcome.outcome == "disputed" and not self.closed:
            # A disputed debt stops collection until an operator resolves it.
            self.place_hold(
                HoldRequest(
                    hold_id=f"dispute-{outcome.ref_id}",
                    kind="dispute",
                    reason=f"borrower disputed the debt on call {outcome.ref_id}",
                    # Placed on the word of whoever recorded the dispute.
                    source=outcome.source,
                ),
                at,
            )
        return self._answer(
            channel,
            outcome.ref_id,
            outcome,
            {ID_FIELDS[channel]: outcome.ref_id, "recorded": True, "status": self.status},
        )

    def _call_answered(self, outcome: Outcome, at: datetime) -> None:
        """A call task with an outcome is done, or awaits the promise made on the call within
        its SLA (or it comes back to the queue)."""
        task = self.call_tasks.get(outcome.ref_id)
        if task is not None and task.state in ("open", "awaiting_promise"):
            task.state = "awaiting_promise" if outcome.outcome == "promised" else "done"
            if outcome.outcome == "promised":
                task.due_at = at + task.sla

    def _visit_reported(self, outcome: Outcome, at: datetime) -> None:
        booking = self.visits.get(outcome.ref_id)
        if booking is None or booking.state != "booked":
            return
        booking.outcome_at = at
        pending = outcome.outcome in VISIT_OUTCOMES_PENDING
        booking.state = outcome.outcome if pending else "done"
        if pending:
            self.revision += 1
        if outcome.outcome == "moved":
            # The borrower moved: somebody has to find the new address.
            self.journal.append(AuditFact(AuditKind.SKIP_TRACE_OPENED, outcome.ref_id, {}))

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
            else "not home: re-booking limit reached"
        )
        booking.state = "done"
        self.journal.append(AuditFact(AuditKind.VISIT_SETTLED, visit_id, {"why": why}))

    def expire_call(self, attempt_id: str) -> None:
        """A call task's SLA passed with no outcome (or no promise after `promised`)."""
        task = self.call_tasks[attempt_id]
        task.state = "expired"
        self.journal.append(
            AuditFact(AuditKind.CALL_EXPIRED, attempt_id, {"requeues": task.requeues})
        )

    def _paid_on_site(self) -> None:
        """A payment arrived: visits that expected one ask nothing more."""
        for booking in self.visits.values():
            if booking.state == "paid_on_site":
                booking.state = "done"
                self.journal.append(
                    AuditFact(AuditKind.ON_SITE_PAYMENT_RECEIVED, booking.visit_id, {})
                )
