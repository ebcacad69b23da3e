"""What a simulated borrower sends after a contact, and what the agent or the field staff who
made the contact record: contract updates, now and later (a promised payment on its day).

One pure function serves the simulator and the test that plays the same borrowers against
real cases: it reads the case as a `CaseView` (from the case's state, or from its `status`
answer) and answers with the messages the contract's updates carry. The answer is drawn from
a `random.Random` seeded by a digest of the seed, the loan and the contact's position among the
case's contacts: the same seed gives the same answers on every run, and under every policy
the k-th contact of a loan meets the same draw (so policies are compared on the same
borrowers, not on different luck).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from domain.case_core import CaseCore
from domain.case_status import FINAL_STATUSES
from domain.commitments import CommitmentRules
from domain.simulation.behaviours import Behaviour

# What the agent records of a call, and the field staff of a visit, for each answer (None: the
# borrower did not answer).
CALL_OUTCOMES: dict[str | None, str] = {
    None: "no_answer",
    "pay_full": "reached",
    "pay_part": "reached",
    "promise_keep": "promised",
    "promise_break": "promised",
    "plan_keep": "reached",
    "plan_miss": "reached",
    "settle": "reached",
    "dispute": "disputed",
    "stop_answering": "refused",
}
VISIT_OUTCOMES: dict[str | None, str] = {
    **{answer: "met" for answer in CALL_OUTCOMES},
    None: "not_home",
    "pay_full": "paid_on_site",
    "dispute": "refused",
    "stop_answering": "refused",
}
COMMITMENTS = ("promise_keep", "promise_break", "plan_keep", "plan_miss", "settle")


@dataclass(frozen=True)
class CaseView:
    """What the borrower's side reads of a case when it answers."""

    loan_id: str
    currency: str
    outstanding_minor: int
    # Today in the case's calendar: commitments' due dates count from it.
    today: date
    open: bool
    on_hold: bool
    # A promise pending, a plan active or a settlement pending: nothing more is proposed.
    committed: bool
    broken_promises: int

    @classmethod
    def of_state(cls, state: CaseCore, today: date) -> CaseView:
        """The case as its state stands, with what is owed today (the penalty of the days begun
        since its latest decision too)."""
        return cls(
            loan_id=state.case.loan_id,
            currency=state.case.currency,
            outstanding_minor=state.owed_on(today).parts.total_minor,
            today=today,
            open=not state.closed,
            on_hold=state.on_hold,
            committed=bool(state.pending_promise or state.active_plan or state.pending_settlement),
            broken_promises=state.broken_promises,
        )

    @classmethod
    def of_status(cls, status: Mapping[str, Any], today: date) -> CaseView:
        """The same view read off the contract's `status` answer. Its outstanding amount is the
        debt as of the case's latest decision: what is owed today for a loan that accrues no
        penalty (or that accrued none since)."""
        states = (
            _state_of(status, "promise") == "pending",
            _state_of(status, "plan") == "active",
            _state_of(status, "settlement") == "pending",
        )
        return cls(
            loan_id=str(status["loan_id"]),
            currency=str(status["currency"]),
            outstanding_minor=int(status["outstanding_minor"]),
            today=today,
            open=status["status"] not in FINAL_STATUSES,
            on_hold=bool(status["holds"]),
            committed=any(states),
            broken_promises=int(status["broken_promises"]),
        )


def _state_of(status: Mapping[str, Any], part: str) -> str | None:
    value = status.get(part)
    return str(value["state"]) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class Message:
    """One contract update: its name and its argument."""

    update: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """Messages sent one after the other at `at`."""

    at: datetime
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Answer:
    """The answer drawn (None: no answer) and the turns it takes, the first one now."""

    given: str | None
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Contacted:
    """A contact as the borrower's side knows it: its channel, its attempt id (which the
    outcome names) and its position among the case's contacts (which the draw and the ids of
    the borrower's messages take)."""

    channel: str
    attempt_id: str
    position: int


def draw(seed: int, loan_id: str, position: int) -> float:
    """The uniform draw in [0, 1) for the contact at `position` of loan `loan_id`."""
    digest = hashlib.sha256(f"{seed}|{loan_id}|{position}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random()


@dataclass(frozen=True)
class Borrower:
    """The borrower's side of one loan: its behaviour, the seed, the policy's commitment rules
    and the length of its day (commitments' dates and the answers' delays count in it)."""

    behaviour: Behaviour
    rules: CommitmentRules
    day_seconds: int
    seed: int

    def answers_after(self, channel: str) -> timedelta | None:
        """How long after a contact on `channel` the answer comes; None: nobody answers one
        (not even the agent or the field staff: a call task then waits out its SLA)."""
        answers = self.behaviour.channels.get(channel)
        return None if answers is None else answers.delay(self.day_seconds)

    def answer(self, contact: Contacted, view: CaseView, now: datetime, *, stopped: bool) -> Answer:
        """What is sent at `now`, the answer's moment, about `contact`. A closed or held case
        gets nothing; a borrower who stopped answering gives no answer."""
        answers = self.behaviour.channels.get(contact.channel)
        if answers is None or not view.open or view.on_hold:
            return Answer(None, ())
        given = None if stopped else answers.pick(draw(self.seed, view.loan_id, contact.position))
        own = _Own(self, view, now, contact.channel, f"sim-{contact.position}")
        messages, later = own.messages(given)
        if given in COMMITMENTS and not messages:
            given = None  # the case could not take it: as if there were no answer
        return Answer(given, (Turn(now, (*_outcome(contact, given), *messages)), *later))


def _outcome(contact: Contacted, given: str | None) -> tuple[Message, ...]:
    """The agent's outcome of a call, the field staff's of a visit; nothing for a notice."""
    if contact.channel == "call":
        body = {"attempt_id": contact.attempt_id, "outcome": CALL_OUTCOMES[given]}
        return (Message("record_contact_outcome", body),)
    if contact.channel == "field_visit":
        body = {"visit_id": contact.attempt_id, "outcome": VISIT_OUTCOMES[given]}
        return (Message("record_visit_outcome", body),)
    return ()


@dataclass(frozen=True)
class _Own:
    """The borrower's own messages for one answer to a contact on `channel`, with ids of the
    answer's `prefix`."""

    borrower: Borrower
    view: CaseView
    now: datetime
    channel: str
    prefix: str

    def messages(self, given: str | None) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
        """The messages sent now and the turns later, for the answer `given`."""
        owed = self.view.outstanding_minor
        if given == "pay_full" or (given == "pay_part" and self._part() >= owed):
            return (self._payment("pay", owed),), ()
        if given == "pay_part":
            return (self._payment("pay", self._part()),), ()
        if given == "dispute":
            return self._dispute(), ()
        if given in COMMITMENTS and not self.view.committed:
            return self._commitment(given)
        return (), ()

    def _part(self) -> int:
        return max(1, self.view.outstanding_minor * self.borrower.behaviour.part_percent // 100)

    def _payment(self, name: str, amount: int) -> Message:
        body = {
            "payment_id": f"{self.prefix}-{name}",
            "amount_minor": amount,
            "currency": self.view.currency,
        }
        return Message("record_payment", body)

    def _later(self, days: int, name: str, amount: int) -> Turn:
        at = self.now + timedelta(seconds=days * self.borrower.day_seconds)
        return Turn(at, (self._payment(name, amount),))

    def _dispute(self) -> tuple[Message, ...]:
        hold = {
            "hold_id": f"{self.prefix}-dispute",
            "kind": "dispute",
            "reason": "the borrower disputes the debt",
        }
        # A call's `disputed` outcome places the hold itself.
        return () if self.channel == "call" else (Message("place_hold", hold),)

    def _commitment(self, given: str) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
        if given in ("promise_keep", "promise_break"):
            return self._promise(keep=given == "promise_keep")
        if given in ("plan_keep", "plan_miss"):
            return self._plan(keep=given == "plan_keep")
        return self._settlement()

    def _promise(self, *, keep: bool) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
        rules, owed = self.borrower.rules, self.view.outstanding_minor
        if self.view.broken_promises >= rules.max_broken_promises:
            return (), ()
        days = min(self.borrower.behaviour.promise_days, rules.promise_max_days)
        body = {
            "promise_id": f"{self.prefix}-promise",
            "amount_minor": owed,
            "due_date": (self.view.today + timedelta(days=days)).isoformat(),
        }
        later = (self._later(days, "promise-pay", owed),) if keep else ()
        return (Message("promise_to_pay", body),), later

    def _plan(self, *, keep: bool) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
        behaviour, rules, owed = (
            self.borrower.behaviour,
            self.borrower.rules,
            self.view.outstanding_minor,
        )
        count = min(behaviour.plan_installments, rules.plan_max_installments, owed)
        first = min(behaviour.plan_every_days, rules.plan_first_within_days)
        offsets = [first + n * behaviour.plan_every_days for n in range(count)]
        share = owed // count
        amounts = [share] * (count - 1) + [owed - share * (count - 1)]
        body = {
            "plan_id": f"{self.prefix}-plan",
            "installments": [
                {
                    "due_date": (self.view.today + timedelta(days=days)).isoformat(),
                    "amount_minor": amount,
                }
                for days, amount in zip(offsets, amounts, strict=True)
            ],
        }
        paid = count if keep else min(behaviour.plan_installments_paid, count - 1)
        later = tuple(self._later(offsets[n], f"plan-{n + 1}", amounts[n]) for n in range(paid))
        return (Message("propose_plan", body),), later

    def _settlement(self) -> tuple[tuple[Message, ...], tuple[Turn, ...]]:
        behaviour, rules, owed = (
            self.borrower.behaviour,
            self.borrower.rules,
            self.view.outstanding_minor,
        )
        amount = owed * behaviour.settle_percent // 100
        if not 1 <= amount < owed:
            return (), ()
        days = min(behaviour.settle_days, rules.settlement_max_days)
        body = {
            "settlement_id": f"{self.prefix}-settlement",
            "amount_minor": amount,
            "due_date": (self.view.today + timedelta(days=days)).isoformat(),
        }
        return (Message("agree_settlement", body),), (self._later(days, "settlement-pay", amount),)
