"""The settlements agents ask for and supervisors decide (maker-checker): the one place that
reads and writes `desk_settlement_requests`.

An agent's request (`request_settlement`, from the case page) waits with no decision. A
supervisor approves it (the desk then sends `agree_settlement` to the case) or rejects it
(nothing is sent). The one who approves must not be the one who asked: the checker is never the
maker. The case's answer is kept with the request: when the case refuses the settlement the
request stays undecided, with the refusal, so the supervisor sees why and may reject it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from activities.store import Store
from migrations.desk_tables import DeskSettlementRequestRow
from migrations.tables import utc_iso

APPROVED = "approved"
REJECTED = "rejected"
DECISIONS = (APPROVED, REJECTED)
UNDECIDED = ""


class SameMakerAndChecker(Exception):
    """A supervisor tried to approve a settlement they asked for themselves."""


def request_settlement(
    store: Store,
    request_id: str,
    *,
    loan_id: str,
    amount_minor: int,
    due_date: str,
    note: str,
    user_name: str,
    at: datetime,
) -> bool:
    """Record an agent's settlement request for a supervisor to decide; False (and nothing
    changed) if `request_id` is recorded already: a form sent twice asks once."""
    return store.insert_if_absent(
        DeskSettlementRequestRow(
            request_id=request_id,
            loan_id=loan_id,
            amount_minor=amount_minor,
            due_date=due_date,
            note=note,
            requested_by=user_name,
            requested_at=utc_iso(at),
        )
    )


def loan_settlements(store: Store, loan_id: str) -> list[DeskSettlementRequestRow]:
    """The loan's settlement requests, decided or not, oldest first (the case page's list)."""
    with store.reading() as session:
        return list(
            session.exec(
                select(DeskSettlementRequestRow)
                .where(col(DeskSettlementRequestRow.loan_id) == loan_id)
                .order_by(col(DeskSettlementRequestRow.requested_at))
            )
        )


def settlement_request(store: Store, request_id: str) -> DeskSettlementRequestRow | None:
    return store.get(DeskSettlementRequestRow, request_id)


def pending_settlements(store: Store) -> list[DeskSettlementRequestRow]:
    """The requests waiting for a decision, oldest first."""
    with store.reading() as session:
        return list(
            session.exec(
                select(DeskSettlementRequestRow)
                .where(col(DeskSettlementRequestRow.decision) == UNDECIDED)
                .order_by(
                    col(DeskSettlementRequestRow.requested_at),
                    col(DeskSettlementRequestRow.request_id),
                )
            )
        )


def check_checker(row: DeskSettlementRequestRow, supervisor: str) -> None:
    """Raise `SameMakerAndChecker` when `supervisor` asked for this settlement."""
    if row.requested_by == supervisor:
        raise SameMakerAndChecker(
            f"You asked for settlement {row.request_id} yourself: another supervisor must "
            "approve it (maker-checker)."
        )


def decide_settlement(
    store: Store, request_id: str, decision: str, decided_by: str, answer: str, at: datetime
) -> bool:
    """Record the decision and the case's answer (empty for a rejection, which sends nothing);
    False if the request is unknown or already decided (a second click changes nothing)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    with store.session() as session:
        row = session.get(DeskSettlementRequestRow, request_id)
        if row is None or row.decision != UNDECIDED:
            return False
        row.decision = decision
        row.decided_by = decided_by
        row.decided_at = utc_iso(at)
        row.answer = answer
        session.add(row)
    return True


def keep_case_answer(store: Store, request_id: str, answer: str) -> None:
    """The case refused the approved settlement: the request stays undecided, with why."""
    store.update(DeskSettlementRequestRow, request_id, answer=answer)
