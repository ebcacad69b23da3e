"""`/visits`: a field collector's visits of today, on a phone, and the visit's outcome.

"Today" is each case's own local date at the desk's `now` (the visit's time is the borrower's
local time, as the case booked it). Each card shown is a view of the borrower's name and address:
it is recorded in the desk's view log. Only the visit's two staff (the case's field collector
and their partner, `web.visit_reading`) may record its outcome; anyone else gets 403 and nothing
is sent to the case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlmodel import col, select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain.money import format_money
from migrations.tables import CaseRow, FieldVisitRow
from web.auth import DeskUser, require_role
from web.case_answers import keep_answer, send, take_answer
from web.case_reading import assignee_at, assignment_rows, bucket_at, desk_users
from web.context import NavLink, context
from web.rendering import error_page, render
from web.visit_reading import VisitCard, visit_partner, visits_for

ROLES = ("field",)
NAV = (NavLink("/visits", "Visits", frozenset(ROLES)),)
OUTCOMES = ("met", "not_home", "moved", "refused", "paid_on_site")
OUTCOME_WORDS = {
    "met": "Met the borrower",
    "not_home": "Not at home",
    "moved": "Moved away",
    "refused": "Refused to talk",
    "paid_on_site": "Paid on site",
}
VIEW_PAGE = "visit"
router = APIRouter()


@router.get("/visits", response_class=HTMLResponse)
def visits_page(
    request: Request, user: Annotated[DeskUser, Depends(require_role(*ROLES))]
) -> HTMLResponse:
    web = context(request)
    now = web.now()
    cards = todays_visits(request, user.user_name, now)
    for card in cards:
        # Each card shows the borrower's name and address: a view of personal data.
        web.desk.record_view(user.user_name, card.loan_id, VIEW_PAGE, at=now)
    return render(
        request,
        "visits.html",
        user=user,
        cards=cards,
        money=format_money,
        outcomes=[(value, OUTCOME_WORDS[value]) for value in OUTCOMES],
        answer=take_answer(request),
    )


def todays_visits(request: Request, user_name: str, now: datetime) -> list[VisitCard]:
    """The user's visits on their cases' own today: the local date at `now` is the UTC date,
    the day before or the day after, depending on the case's timezone."""
    store = context(request).store
    found: dict[str, VisitCard] = {}
    for offset in (-1, 0, 1):
        day = (now + timedelta(days=offset)).date()
        for card in visits_for(store, user=user_name, day=day, now=now):
            if card.scheduled_for.date() == now.astimezone(card.scheduled_for.tzinfo).date():
                found[card.visit_id] = card
    return sorted(found.values(), key=lambda card: (card.scheduled_for, card.visit_id))


@router.post("/visits/{visit_id}/outcome")
async def visit_outcome(
    request: Request,
    visit_id: str,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    web = context(request)
    loan_id, staff = visit_staff(request, visit_id, web.now())
    if loan_id is None or user.user_name not in staff:
        return error_page(
            request,
            user,
            403,
            "Not your visit",
            "Only the visit's two staff may record its outcome.",
        )
    arg = {"visit_id": visit_id, "outcome": outcome, "note": note}
    answer = await send(web, user.user_name, loan_id, "record_visit_outcome", arg)
    keep_answer(request, answer.accepted, answer.text)
    return RedirectResponse("/visits", status_code=303)


def visit_staff(request: Request, visit_id: str, now: datetime) -> tuple[str | None, set[str]]:
    """The visit's loan and its pair (collector and partner); (None, empty) for no such visit
    of an open case."""
    with context(request).store.reading() as session:
        found = session.exec(
            select(FieldVisitRow, CaseRow)
            .join(CaseRow, col(CaseRow.case_id) == col(FieldVisitRow.case_id))
            .where(col(FieldVisitRow.visit_id) == visit_id, col(CaseRow.closed_at).is_(None))
        ).first()
        if found is None:
            return None, set()
        _, case = found
        assignments = assignment_rows(session, [case.loan_id])
        users = desk_users(session)
    collector = assignee_at(assignments, case.loan_id, field=True)
    partner = visit_partner(users, collector, bucket_at(case, now))
    return case.loan_id, {name for name in (collector, partner) if name}
