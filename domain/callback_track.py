"""Call backs the borrower asks for, on the case: taken once by their request id, one at a time,
then queued as a call task due at the moment asked for (`domain.decide` decides it, the
workflow queues it through the ladder's own call activity) and answered like any call task.
When a moment is allowed is `domain.callbacks`'."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.audit import AuditFact, AuditKind, with_source
from domain.callbacks import CallbackRequest, check_callback_time
from domain.case_details import human_time
from domain.case_records import Callback, Contact
from domain.contact_counting import earlier_contacts
from domain.decisions import CaseSetup
from domain.errors import InvalidInput
from domain.ladder_track import LadderTrack

REQUESTED = "requested"
QUEUED = "queued"
NOT_QUEUED = "not_queued"
# A call task still waiting for the agent's outcome.
OPEN_TASK_STATES = ("open", "awaiting_promise")


class CallbackTrack(LadderTrack):
    @property
    def callback_to_queue(self) -> Callback | None:
        """The call back taken whose call task is still to be queued."""
        return next((c for c in self.callbacks.values() if c.state == REQUESTED), None)

    @property
    def open_callback(self) -> Callback | None:
        """The call back still to come: its call task not yet queued, or queued and open."""
        for callback in self.callbacks.values():
            if callback.state == REQUESTED:
                return callback
            task = self.call_tasks.get(callback.attempt_id or "")
            if task is not None and task.state in OPEN_TASK_STATES:
                return callback
        return None

    def check_callback(self, request: CallbackRequest, setup: CaseSetup, now: datetime) -> None:
        if self._check_open_for("callback", request.request_id, request) is not None:
            return
        if self.holds:
            kinds = ", ".join(sorted({hold.kind for hold in self.holds.values()}))
            raise InvalidInput("request_id", f"the case is on hold ({kinds}): nobody calls now")
        if self.phone_unusable:
            raise InvalidInput("request_id", "the phone number on file is a wrong number")
        check_callback_time(
            request.at,
            now=now,
            policy=setup.policy,
            timezone=setup.timezone,
            clock=setup.clock,
            contacts=earlier_contacts(self.contacts, refused_sends_count=setup.refused_sends_count),
        )
        if (pending := self.open_callback) is not None:
            asked = human_time(pending.at, setup.timezone)
            raise InvalidInput("request_id", f"a call back at {asked} is already asked for")

    def take_callback(
        self, request: CallbackRequest, setup: CaseSetup, now: datetime
    ) -> dict[str, Any]:
        self.check_callback(request, setup, now)
        earlier = self.earlier_answer("callback", request.request_id, request)
        if earlier is not None:
            return earlier
        self.callbacks[request.request_id] = Callback(
            request_id=request.request_id,
            number=len(self.callbacks) + 1,
            at=request.at,
            source=request.source,
        )
        # The case decides again: the call task is to be queued.
        self.revision += 1
        self.journal.append(
            AuditFact(
                AuditKind.CALLBACK_REQUESTED,
                request.request_id,
                with_source({"at": request.at.isoformat()}, request.source),
            )
        )
        answer = {"request_id": request.request_id, "accepted": True, "status": self.status}
        return self._answer("callback", request.request_id, request, answer)

    def callback_queued(
        self, request_id: str, contact: Contact, call_sla: timedelta | None
    ) -> None:
        """The call back's call was queued (`contact`, at the moment asked for): a call task,
        as a ladder call's is (or, with no phone on file, a contact nobody can make)."""
        callback = self.callbacks[request_id]
        callback.state = QUEUED
        callback.attempt_id = contact.attempt_id
        self.contacts.append(contact)
        if contact.result == QUEUED and call_sla is not None:
            self.queue_call_task(contact, call_sla, step_index=None)

    def callback_not_queued(
        self, request_id: str, attempt_id: str, why: str, rule: str | None
    ) -> None:
        """No call task for the call back: on record with why (and the rule)."""
        callback = self.callbacks[request_id]
        callback.state = NOT_QUEUED
        callback.attempt_id = attempt_id
        self.unsent += 1
        detail: dict[str, str | int | None] = {"why": why}
        if rule is not None:
            detail["rule"] = rule
        self.journal.append(
            AuditFact(AuditKind.CONTACT_NOT_SENT, f"{attempt_id}:{self.unsent}", detail)
        )
