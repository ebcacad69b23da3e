"""The agent's queue read from the case database, and the claims on borrowers written to it.

The rules are `domain.desk_queue` (the order, later and held) and `domain.desk_claims` (who may
take a borrower); this module only reads the rows into their inputs and writes the claim they
allow.

Two agents taking the same borrower at once: the claim's row is keyed by the borrower, and it
is written by one statement, `INSERT ... ON CONFLICT (borrower_id) DO UPDATE ... WHERE` the
stored claim has expired or is the same agent's. On PostgreSQL the conflicting row is locked
by the first writer, and the second one's WHERE is evaluated against the first one's committed
claim; on SQLite the Store's write transactions begin IMMEDIATE, so the two run one after the
other. Either way the loser's statement changes nothing, and reading the row back in the same
transaction tells it that it lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from activities.contact_caps import borrower_contact_rows, counted_contacts
from activities.store import Store
from domain.audit import AuditKind
from domain.contact_counting import CROSS_LOAN_LOOKBACK
from domain.desk_claims import Claim, ClaimRefused, refusal, release, take
from domain.desk_queue import CALL, DeskQueue, QueuedCall, desk_queue
from migrations.desk_tables import DeskClaimRow
from migrations.tables import CaseEventRow, CaseRow, ContactAttemptRow, WorkItemRow, utc_iso
from web.case_reading import assignee_at, assignment_rows, bucket_at, instant, policy_named

OPEN_TASK = "open"


def read_queue(store: Store, *, user: str, now: datetime) -> DeskQueue:
    """The queue as `user` sees it at `now`: every open call task of an open case, in the
    desk's order, split into call now, later and held."""
    with store.reading() as session:
        calls = queued_calls(session, now)
        claims = _claims(session)
    return desk_queue(calls, user=user, claims=claims, now=now)


def queued_calls(session: Session, now: datetime) -> list[QueuedCall]:
    """Each open call task of an open case as the queue's rule takes it: the latest one of each
    case (`latest_per_case`)."""
    found = session.exec(
        select(WorkItemRow, CaseRow)
        .join(CaseRow, col(CaseRow.case_id) == col(WorkItemRow.case_id))
        .where(
            col(WorkItemRow.status) == OPEN_TASK,
            col(WorkItemRow.kind) == CALL,
            col(CaseRow.closed_at).is_(None),
        )
    ).all()
    tasks = latest_per_case(found)
    cases = {case.case_id: case for _, case in tasks}
    broken = _broken_promises(session, list(cases))
    assignments = assignment_rows(session, (case.loan_id for case in cases.values()))
    # The borrower's contacts are read once per borrower; each task then leaves out its own.
    contacts = {
        borrower: borrower_contact_rows(session, borrower, since=now - CROSS_LOAN_LOOKBACK)
        for borrower in {case.borrower_id for case in cases.values()}
    }
    numbers = _numbers(session, [task.work_item_id for task, _ in tasks])
    return [
        QueuedCall(
            loan_id=case.loan_id,
            attempt_id=task.work_item_id,
            borrower_key=case.borrower_id,
            bucket=bucket_at(case, now),
            outstanding_minor=case.outstanding_minor,
            currency=case.currency,
            due_at=instant(task.due_at),
            broken_promises=broken.get(case.case_id, 0),
            assignee=assignee_at(assignments, case.loan_id, field=False),
            timezone=case.timezone,
            policy=policy_named(case.policy),
            earlier_contacts=tuple(
                counted_contacts(
                    row for row in contacts[case.borrower_id] if row.attempt_id != task.work_item_id
                )
            ),
            number=numbers.get(task.work_item_id),
            # A task is written with its call's moment: a call back's is the one asked for.
            call_at=instant(task.created_at),
        )
        for task, case in tasks
    ]


def latest_per_case(
    tasks: Sequence[tuple[WorkItemRow, CaseRow]],
) -> list[tuple[WorkItemRow, CaseRow]]:
    """One task a case, its latest (by creation, then id). An older call step's task still open
    is the same call to the same borrower: listed twice, two agents could take one case, and
    taking either claims the borrower anyway. The case itself settles the older one (its SLA)."""
    latest: dict[str, tuple[WorkItemRow, CaseRow]] = {}
    for task, case in tasks:
        kept = latest.get(case.case_id)
        if kept is None or (task.created_at, task.work_item_id) > (
            kept[0].created_at,
            kept[0].work_item_id,
        ):
            latest[case.case_id] = (task, case)
    return list(latest.values())


def claim_rows(store: Store) -> list[Claim]:
    """Every claim recorded on the desk (live or expired: the rules tell them apart)."""
    with store.reading() as session:
        return _claims(session)


def take_claim(
    store: Store, *, user: str, borrower_key: str, attempt_id: str, loan_id: str, now: datetime
) -> Claim | ClaimRefused:
    """`user` takes the call task `attempt_id` at `now`: the claim recorded (new or renewed),
    or why not, also when another agent took the borrower a moment before."""
    decided = take(user, borrower_key, attempt_id, claim_rows(store), now)
    if isinstance(decided, ClaimRefused) or save_claim(store, decided, loan_id=loan_id):
        return decided
    lost_to = refusal(user, borrower_key, claim_rows(store), now)
    # Lost a race to a claim that has already ended again: the borrower is busy all the same.
    return lost_to or ClaimRefused(holder="another agent", until=now)


def save_claim(store: Store, claim: Claim, *, loan_id: str) -> bool:
    """Record `claim` (taken through `domain.desk_claims.take`) unless another user's live
    claim on the borrower is in the row by now; True if the row holds `claim`."""
    values = {
        "borrower_id": claim.borrower_key,
        "loan_id": loan_id,
        "attempt_id": claim.attempt_id,
        "user_name": claim.holder,
        "claimed_at": utc_iso(claim.claimed_at),
        "expires_at": utc_iso(claim.expires_at),
    }
    with store.session() as session:
        insert = postgresql.insert if store.engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(DeskClaimRow).values(**values)
        stored = DeskClaimRow.__table__.c  # type: ignore[attr-defined]
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[stored.borrower_id],
                set_={name: statement.excluded[name] for name in values if name != "borrower_id"},
                # Free (expired at the claim's moment) or already this user's: the claim's to
                # take; a live claim of another user stays as it is.
                where=(stored.expires_at <= values["claimed_at"])
                | (stored.user_name == claim.holder),
            )
        )
        row = session.get(DeskClaimRow, claim.borrower_key, populate_existing=True)
        return row is not None and (row.user_name, row.claimed_at) == (
            claim.holder,
            values["claimed_at"],
        )


def release_claim(store: Store, *, borrower_key: str, user: str, now: datetime) -> bool:
    """End `user`'s claim on the borrower at `now` (the call's outcome was recorded, or the
    task put back); True if there was such a claim. Another user's claim is left alone."""
    with store.session() as session:
        row = session.get(DeskClaimRow, borrower_key, with_for_update=True)
        if row is None or row.user_name != user:
            return False
        ended = release(_claim(row), now)
        row.expires_at = utc_iso(ended.expires_at)
        session.add(row)
    return True


def _claims(session: Session) -> list[Claim]:
    return [_claim(row) for row in session.exec(select(DeskClaimRow)).all()]


def _claim(row: DeskClaimRow) -> Claim:
    return Claim(
        borrower_key=row.borrower_id,
        holder=row.user_name,
        attempt_id=row.attempt_id,
        claimed_at=instant(row.claimed_at),
        expires_at=instant(row.expires_at),
    )


def _broken_promises(session: Session, case_ids: Sequence[str]) -> dict[str, int]:
    """How many promises each case has broken (its audit log's PROMISE_BROKEN events)."""
    if not case_ids:
        return {}
    counts: dict[str, int] = {}
    for case_id in session.exec(
        select(CaseEventRow.case_id).where(
            col(CaseEventRow.case_id).in_(case_ids),
            col(CaseEventRow.kind) == AuditKind.PROMISE_BROKEN.value,
        )
    ).all():
        counts[case_id] = counts.get(case_id, 0) + 1
    return counts


def _numbers(session: Session, attempt_ids: Sequence[str]) -> dict[str, str]:
    """The number each call task goes to (its outbox row's recipient), for the per-number cap."""
    if not attempt_ids:
        return {}
    rows = session.exec(
        select(ContactAttemptRow.attempt_id, ContactAttemptRow.recipient).where(
            col(ContactAttemptRow.attempt_id).in_(attempt_ids)
        )
    ).all()
    return {attempt_id: recipient for attempt_id, recipient in rows if recipient}
