"""The case on its ladder: steps begun, made, skipped, and contacts that did not leave.

A step's contact either leaves (its result is on record, a call task gets its SLA, a visit its
booking) or does not (cancelled, deferred, out of its window): then the step is decided again,
not before the moment the rule that held it back allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.audit import AuditFact, AuditKind
from domain.case_records import CallTask, Contact, VisitBooking
from domain.field_work import FieldWork


class LadderTrack(FieldWork):
    def begin_step(self, index: int, stage: str, skipped: tuple[int, ...], dpd: int) -> None:
        """A step starts: the case enters its stage; the steps it overtook are on record."""
        self.stage = stage
        for step in skipped:
            self.journal.append(AuditFact(AuditKind.STEP_SKIPPED, f"{index}:{step}", {"dpd": dpd}))

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
            self.queue_call_task(
                contact, call_sla, step_index=index, requeues=earlier.requeues + 1 if earlier else 0
            )
        if earlier is None and earlier_visit is None:
            self.next_step = index + 1
        self.not_before = None
        self.resume_stage = None

    def queue_call_task(
        self, contact: Contact, sla: timedelta, *, step_index: int | None, requeues: int = 0
    ) -> None:
        """A call queued for the agents (`contact`, result `queued`) is a task the case expects
        an outcome of within `sla` of the call's moment."""
        self.call_tasks[contact.attempt_id] = CallTask(
            attempt_id=contact.attempt_id,
            step_index=step_index,
            due_at=datetime.fromisoformat(contact.at) + sla,
            sla=sla,
            requeues=requeues,
        )

    def skip_step(self, index: int, why: str) -> None:
        """A step that cannot be carried out (no usable phone for a call): on record, passed."""
        self.next_step = index + 1
        self.journal.append(AuditFact(AuditKind.STEP_SKIPPED, f"{index}:{index}", {"why": why}))

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
        self.journal.append(
            AuditFact(AuditKind.CONTACT_NOT_SENT, f"{attempt_id}:{self.unsent}", detail)
        )

    def note_deferred(self, step_index: int, channel: str, rule: str, until: datetime) -> None:
        """A step due now is held back by `rule` (the contact window, a cap) until `until`:
        on record, once for each such decision."""
        key = f"{step_index}:{channel}:{rule}:{until.isoformat()}"
        if key == self.last_deferral:
            return
        self.last_deferral = key
        self.journal.append(
            AuditFact(
                AuditKind.CONTACT_DEFERRED,
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
        self.journal.append(AuditFact(AuditKind.CHANNEL_UNREACHABLE, channel, {"rule": rule}))
