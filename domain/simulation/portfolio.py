"""A portfolio under one policy: every loan's case and its borrower, stepped from event to event.

The events are a case's decided moment, a borrower's answer to a contact and a borrower's later
turn (a promised payment on its day). They are taken in the order of their moment (ties in the
order they were planned), so a run is the same on every machine. Cases meet only through the
borrower: as the contact activities do (`activities.contact_caps`), a contact is checked against
the policy's caps counted over all of the borrower's loans before it goes out, and deferred if
another loan used them up.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.caps import Deferred, EarlierContact, check_contact, counts_against_caps
from domain.case import CaseInput
from domain.channels import CHANNEL_BY_NAME, RECIPIENT_BY_CHANNEL
from domain.contact_counting import CROSS_LOAN_LOOKBACK, earlier_contact
from domain.errors import InvalidInput
from domain.policy import Policy
from domain.simulation.answers import Borrower, CaseView, Contacted, Turn
from domain.simulation.behaviours import Behaviours
from domain.simulation.simulated_case import SimulatedCase
from domain.step_plan import CONTACT_DEFERRED, REFERRED, Made, StepPlan, Unsent, contact_made

# What each contact activity answers for a contact that went out (the outbox's statuses), and
# for one nobody could be contacted by (no such detail of the borrower on record).
RESULT_BY_WORK = {"notice": "sent", "call": "queued", "visit": "booked"}
NO_CONTACT_DETAIL = "skipped_no_contact"
# Contacts a borrower can answer: those that reached them or queued people's work.
ANSWERED_RESULTS = frozenset(RESULT_BY_WORK.values())

# What an event is: a case's decided moment, an answer to a contact, a later turn.
WAKE, ANSWER, TURN = 0, 1, 2


@dataclass(frozen=True)
class Loan:
    """A loan of the portfolio and the segment whose behaviour its borrower has."""

    case: CaseInput
    segment: str | None = None


@dataclass
class LoanRun:
    """A loan's case and borrower in one run."""

    case: SimulatedCase
    borrower: Borrower
    stopped_answering: bool = False


@dataclass(frozen=True)
class _Event:
    at: datetime
    kind: int
    loan: int
    contact: Contacted | None = None
    turn: Turn | None = None


class PortfolioRun:
    """Every loan opened at `start` under `policy`, run for `days` days."""

    def __init__(
        self,
        loans: Sequence[Loan],
        policy: Policy,
        behaviours: Behaviours,
        *,
        seed: int,
        start: datetime,
        days: int,
    ) -> None:
        self.policy, self.end = policy, start + timedelta(days=days)
        self.runs = [
            LoanRun(
                SimulatedCase(loan.case, policy, start, case_id=f"sim-{index:08d}"),
                Borrower(behaviours.of(loan.segment), policy.commitments, policy.day_seconds, seed),
            )
            for index, loan in enumerate(loans)
        ]
        self.loans_of_borrower: dict[str, list[int]] = {}
        for index, loan in enumerate(loans):
            self.loans_of_borrower.setdefault(loan.case.borrower.borrower_id, []).append(index)
        # Messages the cases refused (a borrower's plan that no longer sums to what is owed).
        self.refused = 0
        # (moment, order planned, event): a tuple compares fast, and the order breaks ties.
        self._events: list[tuple[datetime, int, _Event]] = []
        self._order = 0
        for index in range(len(self.runs)):
            self._plan(_Event(start, WAKE, index))

    def run(self) -> list[LoanRun]:
        """Take every event before `end`, in order; the loans as they stand at `end`."""
        while self._events and self._events[0][0] < self.end:
            _, _, event = heapq.heappop(self._events)
            if event.kind == WAKE:
                if self.runs[event.loan].case.wakes_at == event.at:
                    self._decide(event.loan, event.at)
            elif event.kind == ANSWER and event.contact is not None:
                self._answer(event.loan, event.contact, event.at)
            elif event.turn is not None:
                self._take(event.loan, event.turn, event.at)
        return self.runs

    def _plan(self, event: _Event) -> None:
        """Put `event` among those to come, after those planned before it for its moment."""
        self._order += 1
        heapq.heappush(self._events, (event.at, self._order, event))

    # -- the case's side -----------------------------------------------------------
    def _decide(self, loan: int, now: datetime) -> None:
        case = self.runs[loan].case
        made = len(case.state.contacts)
        case.run(now, lambda step: self._send(loan, step))
        # What the case database would get is of no use here; dropped, so memory stays flat.
        case.state.journal.clear()
        for position, contact in enumerate(case.state.contacts[made:], start=made):
            delay = self.runs[loan].borrower.answers_after(contact.channel)
            if contact.result in ANSWERED_RESULTS and delay is not None:
                seen = Contacted(contact.channel, contact.attempt_id, position)
                self._plan(_Event(now + delay, ANSWER, loan, contact=seen))
        if case.wakes_at is not None:
            self._plan(_Event(case.wakes_at, WAKE, loan))

    def _send(self, loan: int, step: StepPlan) -> Made | Unsent:
        """The contact activities' answer for `step`: handed to the lawyers; skipped when the
        borrower has no detail for the channel; deferred when the caps, counted over all of
        the borrower's loans, hold it back; otherwise made."""
        if step.legal:
            return Made(REFERRED)
        case = self.runs[loan].case
        borrower = case.state.case.borrower
        recipient = getattr(borrower, RECIPIENT_BY_CHANNEL[step.channel])
        if not recipient:
            return Made(NO_CONTACT_DETAIL)
        verdict = check_contact(
            step.channel,
            step.scheduled_at,
            policy=case.setup.policy,
            timezone=case.setup.timezone,
            contacts=self._borrower_contacts(borrower.borrower_id, step.scheduled_at),
            number=recipient if step.channel == "call" else None,
        )
        if isinstance(verdict, Deferred):
            return contact_made(CONTACT_DEFERRED, verdict.rule, verdict.until.isoformat())
        return Made(RESULT_BY_WORK[CHANNEL_BY_NAME[step.channel].work])

    def _borrower_contacts(self, borrower_id: str, at: datetime) -> list[EarlierContact]:
        """The borrower's contacts on all of their loans that count against the caps at `at`."""
        since = at - CROSS_LOAN_LOOKBACK
        counted = []
        for loan in self.loans_of_borrower[borrower_id]:
            case = self.runs[loan].case.state.case
            for contact in self.runs[loan].case.state.contacts:
                made = datetime.fromisoformat(contact.at)
                if made >= since and counts_against_caps(contact.result):
                    number = case.borrower.phone if contact.channel == "call" else None
                    counted.append(
                        earlier_contact(contact.channel, made, contact.result, number=number)
                    )
        return counted

    # -- the borrower's side ----------------------------------------------------------
    def _answer(self, loan: int, contact: Contacted, now: datetime) -> None:
        run = self.runs[loan]
        case = run.case
        if case.completed:
            return
        today = case.today(now)
        view = CaseView.of_state(case.state, today)
        answer = run.borrower.answer(contact, view, now, stopped=run.stopped_answering)
        if answer.given == "stop_answering":
            run.stopped_answering = True
        if answer.turns:
            self._take(loan, answer.turns[0], now)
        for turn in answer.turns[1:]:
            self._plan(_Event(turn.at, TURN, loan, turn=turn))

    def _take(self, loan: int, turn: Turn, now: datetime) -> None:
        """The turn's messages, one after the other; a case whose next move changed decides at
        once, before the next message (as a real case does between two updates)."""
        case = self.runs[loan].case
        for message in turn.messages:
            if case.completed:
                return
            try:
                changed = case.take(message.update, message.body, now)
            except InvalidInput:
                self.refused += 1
                continue
            if changed:
                self._decide(loan, now)
