"""What the desk's read models share: a case's policy and days past due as of a given moment,
who is responsible for a loan, the desk's users and an audit event's detail.

Everything here reads; the moment is always the caller's (the page's clock), never the wall
clock, so a page and its tests see the same figures.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.assignment import DeskUser, buckets_of
from domain.clock import CaseClock, bucket, case_clock
from domain.policy import Policy
from migrations.desk_tables import DeskAssignmentRow, DeskUserRow
from migrations.tables import CaseEventRow, CaseRow
from policies import load_policy

# The prefix of the field teams' keys in `desk_assignments.team` (`field:M3`); the phone teams'
# are `agent:M1`, and a supervisor's reassignment keeps the team of the stage it reassigns.
FIELD_TEAM_PREFIX = "field:"


@functools.lru_cache(maxsize=64)
def policy_named(name: str) -> Policy:
    """The named policy, read once per process (the files change only with a deployment)."""
    return load_policy(name)


def instant(text: str) -> datetime:
    """A stored `utc_iso` timestamp as an aware datetime."""
    return datetime.fromisoformat(text)


def clock_of(case: CaseRow) -> CaseClock:
    """The case's own clock (a fast one under the `demo` policy), as the case keeps it."""
    return case_clock(
        date.fromisoformat(case.due_date),
        case.timezone,
        instant(case.opened_at),
        policy_named(case.policy).day_seconds,
    )


def days_past_due(case: CaseRow, now: datetime) -> int:
    """The case's DPD at `now` by its own clock, as the case itself counts it: the stored
    column is only as fresh as the case's last snapshot."""
    return clock_of(case).days_past_due(now)


def bucket_at(case: CaseRow, now: datetime) -> str:
    """The case's delinquency bucket at `now`."""
    return bucket(days_past_due(case, now))


def event_detail(row: CaseEventRow) -> dict[str, Any]:
    """An audit event's detail; a detail that is not a JSON object reads as empty."""
    try:
        detail = json.loads(row.detail or "{}")
    except json.JSONDecodeError:
        return {}
    return detail if isinstance(detail, dict) else {}


def desk_users(session: Session) -> list[DeskUser]:
    """Every desk user as the assignment rules take them (inactive ones too: the rules and the
    figures decide what an inactive user counts for)."""
    return [
        DeskUser(
            name=row.user_name,
            role=row.role,
            active=row.active,
            buckets=buckets_of(row.buckets),
        )
        for row in session.exec(select(DeskUserRow)).all()
    ]


def assignment_rows(session: Session, loan_ids: Iterable[str]) -> list[DeskAssignmentRow]:
    """The assignments of these loans, oldest first (ties by request id, so the latest is the
    same on every read)."""
    wanted = sorted(set(loan_ids))
    if not wanted:
        return []
    return list(
        session.exec(
            select(DeskAssignmentRow)
            .where(col(DeskAssignmentRow.loan_id).in_(wanted))
            .order_by(col(DeskAssignmentRow.assigned_at), col(DeskAssignmentRow.request_id))
        ).all()
    )


def assignee_at(
    rows: Iterable[DeskAssignmentRow], loan_id: str, *, field: bool, at: str | None = None
) -> str | None:
    """The loan's responsible collector of the phone teams (`field` False) or the field teams
    (`field` True): the latest such assignment, or the latest one made by `at` (a `utc_iso`
    string) where given; None if there is none. `rows` are oldest first."""
    found = None
    for row in rows:
        if row.loan_id != loan_id or row.team.startswith(FIELD_TEAM_PREFIX) != field:
            continue
        if at is not None and row.assigned_at > at:
            break
        found = row.user_name
    return found
