"""The supervisor's figures, read from the case database: the open call tasks per bucket and
each agent's work over a period (the settlements waiting for a decision are
`web.settlement_requests`'s).

An agent's work is read from the cases' audit logs: each message an agent sends through the desk
is recorded with `"source": <the agent>` in its event's detail. A call's outcome counts as a
call; a promise counts as taken by its source, and as kept by whoever took it (the keeping is
the case's doing, recorded without a source). A call task whose SLA passed with no outcome
(`domain.step_plan`'s call SLA, ended by the case as CALL_EXPIRED) is a breach of whoever was
responsible for the case at that moment, or of "unassigned". Figures cover `[since, now)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from activities.store import Store
from domain.assignment import AGENT
from domain.audit import AuditKind
from domain.clock import BUCKETS
from domain.desk_queue import CALL
from migrations.desk_tables import DeskUserRow
from migrations.tables import CaseEventRow, CaseRow, WorkItemRow, utc_iso
from web.case_reading import assignee_at, assignment_rows, bucket_at, event_detail, instant

# A right-party contact: the agent spoke with the borrower themselves, whatever they said
# (`no_answer` and `wrong_number` did not reach them). Outcomes of `domain.messages`.
RIGHT_PARTY_OUTCOMES = frozenset({"reached", "promised", "disputed", "refused"})
UNASSIGNED = "unassigned"
COUNTED_KINDS = (
    AuditKind.CONTACT_OUTCOME,
    AuditKind.PROMISE_MADE,
    AuditKind.PROMISE_KEPT,
    AuditKind.CALL_EXPIRED,
)


@dataclass(frozen=True)
class BucketFigures:
    bucket: str
    open_calls: int
    oldest_due_at: datetime | None  # the deadline of the longest-waiting open call task
    oldest_overdue_by: timedelta  # how far `now` is past it (zero if none is past it)


@dataclass(frozen=True)
class AgentFigures:
    agent: str  # a desk user's name, or "unassigned" (breaches of cases nobody was on)
    calls: int  # call outcomes recorded
    right_party_contacts: int  # of which reached the borrower (RIGHT_PARTY_OUTCOMES)
    promises_taken: int
    promises_kept: int
    sla_breaches: int


@dataclass(frozen=True)
class SupervisorFigures:
    since: datetime
    now: datetime
    buckets: list[BucketFigures]  # every bucket, M0 to M4+
    agents: list[AgentFigures]  # by name


def supervisor_figures(store: Store, *, now: datetime, since: datetime) -> SupervisorFigures:
    """The figures at `now`, the agents' over `[since, now)`."""
    with store.reading() as session:
        return SupervisorFigures(
            since=since,
            now=now,
            buckets=_bucket_figures(session, now),
            agents=_agent_figures(session, since=since, now=now),
        )


def _bucket_figures(session: Session, now: datetime) -> list[BucketFigures]:
    tasks = session.exec(
        select(WorkItemRow.due_at, CaseRow)
        .join(CaseRow, col(CaseRow.case_id) == col(WorkItemRow.case_id))
        .where(
            col(WorkItemRow.status) == "open",
            col(WorkItemRow.kind) == CALL,
            col(CaseRow.closed_at).is_(None),
        )
    ).all()
    due_by_bucket: dict[str, list[datetime]] = {name: [] for name in BUCKETS}
    for due_at, case in tasks:
        due_by_bucket.setdefault(bucket_at(case, now), []).append(instant(due_at))
    figures = []
    for name, deadlines in due_by_bucket.items():
        oldest = min(deadlines, default=None)
        overdue_by = max(now - oldest, timedelta(0)) if oldest is not None else timedelta(0)
        figures.append(BucketFigures(name, len(deadlines), oldest, overdue_by))
    return figures


def _agent_figures(session: Session, *, since: datetime, now: datetime) -> list[AgentFigures]:
    events = session.exec(
        select(CaseEventRow)
        .where(
            col(CaseEventRow.kind).in_([kind.value for kind in COUNTED_KINDS]),
            col(CaseEventRow.at) >= utc_iso(since),
            col(CaseEventRow.at) < utc_iso(now),
        )
        .order_by(col(CaseEventRow.at), col(CaseEventRow.event_key))
    ).all()
    promised_by = _promise_takers(session, events)
    assignments = assignment_rows(session, (event.loan_id for event in events))
    counts: dict[str, Counter[str]] = {
        name: Counter()
        for name in session.exec(
            select(DeskUserRow.user_name).where(col(DeskUserRow.role) == AGENT)
        ).all()
    }
    for event in events:
        detail = event_detail(event)
        source = _source(detail)
        if event.kind == AuditKind.CONTACT_OUTCOME and source:
            counts.setdefault(source, Counter())["calls"] += 1
            if detail.get("outcome") in RIGHT_PARTY_OUTCOMES:
                counts[source]["right_party_contacts"] += 1
        elif event.kind == AuditKind.PROMISE_MADE and source:
            counts.setdefault(source, Counter())["promises_taken"] += 1
        elif event.kind == AuditKind.PROMISE_KEPT:
            taker = source or promised_by.get((event.case_id, event.ref_id))
            if taker:
                counts.setdefault(taker, Counter())["promises_kept"] += 1
        elif event.kind == AuditKind.CALL_EXPIRED:
            responsible = assignee_at(assignments, event.loan_id, field=False, at=event.at)
            counts.setdefault(responsible or UNASSIGNED, Counter())["sla_breaches"] += 1
    return [
        AgentFigures(
            agent=name,
            calls=tally["calls"],
            right_party_contacts=tally["right_party_contacts"],
            promises_taken=tally["promises_taken"],
            promises_kept=tally["promises_kept"],
            sla_breaches=tally["sla_breaches"],
        )
        for name, tally in sorted(counts.items())
    ]


def _promise_takers(
    session: Session, events: Sequence[CaseEventRow]
) -> dict[tuple[str, str | None], str]:
    """Who took each promise kept in the period (its PROMISE_MADE's source), by case and
    promise id: the promise may have been taken before the period began."""
    kept = [(e.case_id, e.ref_id) for e in events if e.kind == AuditKind.PROMISE_KEPT]
    if not kept:
        return {}
    made = session.exec(
        select(CaseEventRow).where(
            col(CaseEventRow.kind) == AuditKind.PROMISE_MADE.value,
            col(CaseEventRow.case_id).in_(sorted({case_id for case_id, _ in kept})),
        )
    ).all()
    takers = {}
    for event in made:
        source = _source(event_detail(event))
        if source:
            takers[(event.case_id, event.ref_id)] = source
    return takers


def _source(detail: dict[str, Any]) -> str | None:
    """The desk user who sent the message the event records; None: not sent through the desk."""
    source = detail.get("source")
    return source if isinstance(source, str) and source else None
