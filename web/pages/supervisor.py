"""`/supervisor`: the team's figures, the settlements waiting for approval, reassignment.

The figures are `web.supervisor_reading`'s over a period of whole UTC days ending today: today
by default, `?days=7` for the week (the desk has no time zone setting of its own, so its days
are UTC days; docs/desk.md). A settlement is approved by a supervisor who did not ask for it
(maker-checker, `web.settlement_requests`); only the approval sends `agree_settlement`. A
reassignment is checked by `domain.assignment.check_reassignment` against the case's stage as
the case itself reports it, then sent as the case's `assign_collector` update.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Depends, Form, Request
from sqlmodel import col, select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from caseclient.messages import CaseNotFound, query_status
from domain import assignment
from domain.errors import InvalidInput
from domain.money import format_money
from migrations.tables import CaseRow
from web.auth import DeskUser, require_role
from web.case_answers import ANSWER_SECONDS, keep_answer, send, take_answer
from web.case_reading import assignee_at, assignment_rows
from web.context import NavLink, WebContext, context
from web.rendering import render
from web.settlement_requests import (
    APPROVED,
    REJECTED,
    SameMakerAndChecker,
    check_checker,
    decide_settlement,
    keep_case_answer,
    pending_settlements,
    settlement_request,
)
from web.supervisor_reading import supervisor_figures

ROLES = ("supervisor",)
NAV = (NavLink("/supervisor", "Supervisor", frozenset(ROLES)),)
PAGE = "/supervisor"
MAX_DAYS = 31
# The reassignment list: open cases of the stages with a responsible collector, at most this many.
REASSIGN_LIST_MAX = 200
router = APIRouter()


def period_start(now: datetime, days: int) -> datetime:
    """Midnight UTC starting the `days` whole UTC days that end with today's."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=UTC)


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor_page(
    request: Request,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
    days: int = 1,
) -> HTMLResponse:
    web = context(request)
    now = web.now()
    days = min(max(days, 1), MAX_DAYS)
    figures = supervisor_figures(web.store, now=now, since=period_start(now, days))
    requests = pending_settlements(web.store)
    cases = _reassignable_cases(web)
    return render(
        request,
        "supervisor.html",
        user=user,
        days=days,
        figures=figures,
        requests=requests,
        currencies=_currencies(web, [row.loan_id for row in requests]),
        cases=cases,
        staff=_staff(web),
        money=format_money,
        answer=take_answer(request),
        message_id=uuid4().hex,
    )


def _reassignable_cases(web: WebContext) -> list[tuple[CaseRow, str | None]]:
    """Open cases in a stage with a responsible collector, each with its collector now."""
    with web.store.reading() as session:
        cases = session.exec(
            select(CaseRow)
            .where(
                col(CaseRow.closed_at).is_(None),
                col(CaseRow.stage).in_(list(assignment.STAGE_ROLES)),
            )
            .order_by(col(CaseRow.loan_id))
            .limit(REASSIGN_LIST_MAX)
        ).all()
        rows = assignment_rows(session, (case.loan_id for case in cases))
    return [
        (case, assignee_at(rows, case.loan_id, field=case.stage == "field_visit")) for case in cases
    ]


def _currencies(web: WebContext, loan_ids: list[str]) -> dict[str, str]:
    """The currency of each loan's open case (a request's amount is in its minor units)."""
    if not loan_ids:
        return {}
    with web.store.reading() as session:
        found = session.exec(
            select(CaseRow.loan_id, CaseRow.currency).where(
                col(CaseRow.loan_id).in_(loan_ids), col(CaseRow.closed_at).is_(None)
            )
        ).all()
    return dict(found)


def _staff(web: WebContext) -> list[str]:
    """Who a case may be handed to: active agents and field collectors."""
    return [
        row.user_name
        for row in web.desk.users()
        if row.active and row.role in (assignment.AGENT, assignment.FIELD)
    ]


def _back(request: Request, accepted: bool, text: str) -> Response:
    keep_answer(request, accepted, text)
    return RedirectResponse(PAGE, status_code=303)


@router.post("/supervisor/settlements/{request_id}/approve")
async def approve_settlement(
    request: Request,
    request_id: str,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
) -> Response:
    web = context(request)
    row = settlement_request(web.store, request_id)
    if row is None or row.decision:
        return _back(request, False, f"Settlement {request_id} is not waiting for a decision.")
    try:
        check_checker(row, user.user_name)
    except SameMakerAndChecker as refused:
        return _back(request, False, str(refused))
    arg = {
        "settlement_id": row.request_id,
        "amount_minor": row.amount_minor,
        "due_date": row.due_date,
    }
    answer = await send(web, user.user_name, row.loan_id, "agree_settlement", arg)
    if answer.accepted:
        decide_settlement(web.store, request_id, APPROVED, user.user_name, answer.text, web.now())
    else:
        # The case refused (or did not answer): the request waits, with why, for a rejection.
        keep_case_answer(web.store, request_id, answer.text)
    return _back(request, answer.accepted, answer.text)


@router.post("/supervisor/settlements/{request_id}/reject")
def reject_settlement(
    request: Request,
    request_id: str,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
) -> Response:
    web = context(request)
    decided = decide_settlement(web.store, request_id, REJECTED, user.user_name, "", web.now())
    if not decided:
        return _back(request, False, f"Settlement {request_id} is not waiting for a decision.")
    return _back(request, True, f"Settlement {request_id} rejected; nothing was sent to the case.")


@router.post("/supervisor/cases/{loan_id}/assign")
async def assign_case(
    request: Request,
    loan_id: str,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
    user_name: Annotated[str, Form()] = "",
    message_id: Annotated[str, Form()] = "",
) -> Response:
    web = context(request)
    try:
        status = await query_status(await web.client(), loan_id, timeout=ANSWER_SECONDS)
        assignment.check_reassignment(_desk_user(web, user_name), stage=str(status["stage"]))
    except (CaseNotFound, TimeoutError):
        return _back(request, False, f"Case {loan_id} did not answer; nothing was sent.")
    except InvalidInput as refused:
        return _back(request, False, f"Not reassigned: {refused}")
    arg = {"message_id": message_id or uuid4().hex, "user_name": user_name}
    answer = await send(web, user.user_name, loan_id, "assign_collector", arg)
    return _back(request, answer.accepted, answer.text)


def _desk_user(web: WebContext, user_name: str) -> assignment.DeskUser | None:
    row = web.desk.user(user_name.strip()) if user_name.strip() else None
    if row is None:
        return None
    buckets = tuple(name for name in row.buckets.split(",") if name)
    return assignment.DeskUser(row.user_name, row.role, row.active, buckets)
