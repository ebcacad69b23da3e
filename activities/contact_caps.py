"""Caps across all of a borrower's loans, enforced where a contact is recorded.

Each case counts its own contacts when it decides (`domain.decide`), but a borrower with three
overdue loans has three cases, and only the case database sees all of their contacts. So the
outbox row of a contact is written as a reservation: in one transaction that holds the
borrower's row locked, the borrower's recent contacts on every loan are read, the policy's
caps (`domain.caps.check_contact`) are applied to them, and the row is written only if they
allow it. Two workers sending for two loans of one borrower in the same second take turns on
the lock; the second one sees the first one's row and is deferred. A policy with no cap on
the channel (`domain.caps.has_caps`) has nothing to count: its reservation neither locks nor
reads.

Why here and not in a borrower workflow: the row is the outbox entry every send writes before
anything leaves anyway, so the reservation costs no extra round trip, works the same with any
number of workers, and survives a worker killed mid-send (the row stays, counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, SQLModel, col, select

from activities.outbox import status_result
from activities.store import Store
from domain.caps import Deferred, EarlierContact, check_contact, counts_against_caps, has_caps
from domain.contact_counting import CROSS_LOAN_LOOKBACK, earlier_contact
from domain.policy import Policy
from domain.portal import is_transactional
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, utc_iso


@dataclass(frozen=True)
class Reserved:
    """The attempt's row after its reservation, and whether this reservation wrote it (False:
    an earlier try did)."""

    row: ContactAttemptRow
    new: bool


def reserve_contact(
    store: Store,
    attempt: ContactAttemptRow,
    *with_rows: SQLModel,
    borrower_id: str,
    policy: Policy,
    timezone: str,
    at: datetime,
    first: Callable[[Session], None] | None = None,
) -> Deferred | Reserved:
    """Write `attempt` (and `with_rows`, such as its work item) if the policy's caps allow one
    more contact on its channel at `at`, counted over all of the borrower's loans; otherwise
    write no attempt and say until when and by which rule it is deferred. An attempt already
    written (a retry) is left as it is. `first` writes in the same transaction, before the
    caps are counted, whatever the reservation decides (the case's records a request carries:
    one commit instead of two)."""
    capped = has_caps(policy, attempt.channel)
    with store.session() as session:
        if capped and not store.writes_alone:
            # The borrower's row is the lock: every reservation for this borrower takes it
            # first. (Where a write transaction shuts out every other writer, SQLite's, it is
            # the lock already.)
            session.exec(
                select(BorrowerRow.borrower_id)
                .where(col(BorrowerRow.borrower_id) == borrower_id)
                .with_for_update()
            ).first()
        if first is not None:
            first(session)
        earlier = session.get(ContactAttemptRow, attempt.attempt_id)
        if earlier is not None:
            return Reserved(earlier, new=False)
        verdict = check_contact(
            attempt.channel,
            at,
            policy=policy,
            timezone=timezone,
            contacts=(
                borrower_contacts(session, borrower_id, since=at - CROSS_LOAN_LOOKBACK)
                if capped
                else ()
            ),
            number=attempt.recipient if attempt.channel == "call" else None,
        )
        if isinstance(verdict, Deferred):
            return verdict
        session.add(attempt)
        session.add_all(with_rows)
    return Reserved(attempt, new=True)


def borrower_contacts(
    session: Session, borrower_id: str, *, since: datetime
) -> Sequence[EarlierContact]:
    """The borrower's contacts on all of their loans since `since` that count against the caps
    (`domain.caps.counts_against_caps`, by what each loan's case records of them)."""
    return counted_contacts(borrower_contact_rows(session, borrower_id, since=since))


def borrower_contact_rows(
    session: Session, borrower_id: str, *, since: datetime
) -> Sequence[ContactAttemptRow]:
    """The outbox rows of the borrower's contacts on all of their loans since `since`, whether
    they count against the caps or not (the desk's queue leaves out a task's own row first)."""
    return session.exec(
        select(ContactAttemptRow)
        .join(CaseRow, col(CaseRow.case_id) == col(ContactAttemptRow.case_id))
        .where(
            col(CaseRow.borrower_id) == borrower_id,
            col(ContactAttemptRow.created_at) >= utc_iso(since),
        )
    ).all()


def counted_contacts(rows: Iterable[ContactAttemptRow]) -> list[EarlierContact]:
    """The rows that count against the caps, as the caps count them (a call's number too);
    never a message the borrower asked for on the portal (`domain.portal.is_transactional`)."""
    return [
        earlier_contact(
            row.channel,
            datetime.fromisoformat(row.created_at),
            row.result,
            number=row.recipient if row.channel == "call" else None,
        )
        for row in rows
        if is_counted_contact(row.status, row.template)
    ]


def is_counted_contact(status: str, template: str) -> bool:
    """Whether an outbox row of this status and template is a contact the caps count: one
    that may have left (`domain.caps.counts_against_caps`, by what the case records of it),
    and never one of the portal's own messages (a code, a new link), which are transactional,
    no collection contact. The experiment report counts the contacts made the same way."""
    return counts_against_caps(status_result(status)) and not is_transactional(template)
