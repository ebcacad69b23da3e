"""A field collector's visits of one day, read from the case database.

Visits are made in pairs (the NIFA guideline `field_visits.staff_count` records). The pair of a
visit is the case's field collector (the latest assignment of a field team, `field:M3`) and
their partner: the next member after them in the round-robin order of the field team of the
case's bucket (`domain.assignment.next_assignee` over `domain.assignment.team`), so each
collector always goes out with the same colleague and the pairs change only when the team
does. A team of one has no partner (None): the page shows that the visit lacks its second
person. The rule is also in docs/desk.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from activities.store import Store
from domain.assignment import DeskUser, next_assignee, team
from domain.clock import bucket
from migrations.tables import BorrowerRow, CaseRow, FieldVisitRow, utc_iso
from web.case_reading import (
    assignee_at,
    assignment_rows,
    bucket_at,
    days_past_due,
    desk_users,
    instant,
)

BOOKED = "booked"
FIELD_STAGE = "field_visit"
# A local day lies within a day and a half either side of the same UTC date in every timezone
# (UTC-12 to UTC+14): the query reads that span, and the local date decides.
LOCAL_DAY_MARGIN = timedelta(days=2)


@dataclass(frozen=True)
class VisitCard:
    """One booked visit as the field collector's page shows it. `borrower_name` and
    `borrower_address` are personal data: the page that shows them records the view."""

    visit_id: str
    loan_id: str
    scheduled_for: datetime  # in the case's timezone
    outstanding_minor: int
    currency: str
    days_past_due: int  # as of the page's `now`
    bucket: str
    stage: str
    collector: str | None  # the case's field collector
    partner: str | None  # the second person of the pair; None: the team has nobody else
    borrower_name: str | None
    borrower_address: str | None


def visits_for(store: Store, *, user: str, day: date, now: datetime) -> list[VisitCard]:
    """The booked visits on `day` (the case's local date) of open cases that `user` goes on,
    as the case's field collector or as their partner, in order of their time."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    with store.reading() as session:
        booked = session.exec(
            select(FieldVisitRow, CaseRow, BorrowerRow)
            .join(CaseRow, col(CaseRow.case_id) == col(FieldVisitRow.case_id))
            # A borrower's row comes with their case; a visit without one still shows.
            .outerjoin(BorrowerRow, col(BorrowerRow.borrower_id) == col(CaseRow.borrower_id))
            .where(
                col(FieldVisitRow.status) == BOOKED,
                col(CaseRow.closed_at).is_(None),
                col(FieldVisitRow.scheduled_for) >= utc_iso(start - LOCAL_DAY_MARGIN),
                col(FieldVisitRow.scheduled_for) < utc_iso(start + LOCAL_DAY_MARGIN),
            )
        ).all()
        on_day = [
            (visit, case, borrower)
            for visit, case, borrower in booked
            if _local(visit.scheduled_for, case.timezone).date() == day
        ]
        assignments = assignment_rows(session, (case.loan_id for _, case, _ in on_day))
        users = desk_users(session)
    cards = []
    for visit, case, borrower in on_day:
        collector = assignee_at(assignments, case.loan_id, field=True)
        partner = visit_partner(users, collector, bucket_at(case, now))
        if user not in (collector, partner):
            continue
        cards.append(_card(visit, case, borrower, collector, partner, now))
    return sorted(cards, key=lambda card: (card.scheduled_for, card.visit_id))


def visit_partner(users: list[DeskUser], collector: str | None, bucket: str) -> str | None:
    """The second person of `collector`'s pair: the next member after them in the field team
    of `bucket`, in the round-robin's order; None for no collector or a team of one."""
    if collector is None:
        return None
    partner = next_assignee(team(users, stage=FIELD_STAGE, bucket=bucket), collector)
    return partner if partner != collector else None


def _card(
    visit: FieldVisitRow,
    case: CaseRow,
    borrower: BorrowerRow | None,
    collector: str | None,
    partner: str | None,
    now: datetime,
) -> VisitCard:
    dpd = days_past_due(case, now)
    return VisitCard(
        visit_id=visit.visit_id,
        loan_id=case.loan_id,
        scheduled_for=_local(visit.scheduled_for, case.timezone),
        outstanding_minor=case.outstanding_minor,
        currency=case.currency,
        days_past_due=dpd,
        bucket=bucket(dpd),
        stage=case.stage,
        collector=collector,
        partner=partner,
        borrower_name=borrower.name if borrower else None,
        borrower_address=borrower.address if borrower else None,
    )


def _local(stored: str, timezone: str) -> datetime:
    return instant(stored).astimezone(ZoneInfo(timezone))
