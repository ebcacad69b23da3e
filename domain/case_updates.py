"""The contract's updates as a case takes them: each message parsed and put on the case's
state. The workflow's handlers (`workflows.case_messages`) and the simulator
(`domain.simulation`) take a message through the same function, so a simulated borrower's
payment, promise or plan changes a simulated case exactly as it changes a real one.

Each function raises `InvalidInput` naming the field for a message the case refuses (the
workflow answers it as the update's rejection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.case_state import CaseState
from domain.commitments import CommitmentRules, parse_plan, parse_promise, parse_settlement
from domain.errors import InvalidInput
from domain.messages import parse_contact_outcome, parse_hold, parse_visit_outcome
from domain.payments import parse_payment


def take_payment(state: CaseState, raw: Any, now: datetime) -> dict[str, Any]:
    return state.take_payment(parse_payment(raw, case_currency=state.case.currency, now=now), now)


def take_promise(state: CaseState, raw: Any, rules: CommitmentRules, today: date) -> dict[str, Any]:
    return state.take_promise(parse_promise(raw), rules, today)


def take_plan(state: CaseState, raw: Any, rules: CommitmentRules, today: date) -> dict[str, Any]:
    return state.take_plan(parse_plan(raw), rules, today)


def take_settlement(
    state: CaseState, raw: Any, rules: CommitmentRules, today: date
) -> dict[str, Any]:
    return state.take_settlement(parse_settlement(raw), rules, today)


def take_hold(state: CaseState, raw: Any, now: datetime) -> dict[str, Any]:
    return state.place_hold(parse_hold(raw), now)


def take_call_outcome(
    state: CaseState, raw: Any, now: datetime, *, outcome_acts: bool = True
) -> dict[str, Any]:
    """An agent's outcome of a call. `outcome_acts`: see `FieldWork.record_outcome`."""
    return state.record_outcome(parse_contact_outcome(raw), "call", now, outcome_acts=outcome_acts)


def take_visit_outcome(
    state: CaseState, raw: Any, now: datetime, *, outcome_acts: bool = True
) -> dict[str, Any]:
    return state.record_outcome(
        parse_visit_outcome(raw), "field_visit", now, outcome_acts=outcome_acts
    )


@dataclass(frozen=True)
class Moment:
    """When a case takes a message: the instant, today in its calendar, and its policy's rules
    on commitments."""

    now: datetime
    today: date
    rules: CommitmentRules


Taker = Callable[[CaseState, Any, Moment], dict[str, Any]]

# The updates a simulated borrower (and the agents and field staff answering for them) sends,
# by their contract names.
TAKERS: dict[str, Taker] = {
    "record_payment": lambda state, raw, at: take_payment(state, raw, at.now),
    "promise_to_pay": lambda state, raw, at: take_promise(state, raw, at.rules, at.today),
    "propose_plan": lambda state, raw, at: take_plan(state, raw, at.rules, at.today),
    "agree_settlement": lambda state, raw, at: take_settlement(state, raw, at.rules, at.today),
    "place_hold": lambda state, raw, at: take_hold(state, raw, at.now),
    "record_contact_outcome": lambda state, raw, at: take_call_outcome(state, raw, at.now),
    "record_visit_outcome": lambda state, raw, at: take_visit_outcome(state, raw, at.now),
}


def take_update(state: CaseState, update: str, raw: Any, at: Moment) -> dict[str, Any]:
    """Take the update named `update` (one of `TAKERS`) with its argument `raw`."""
    taker = TAKERS.get(update)
    if taker is None:
        raise InvalidInput("update", f"{update!r} is not one of {', '.join(TAKERS)}")
    return taker(state, raw, at)
