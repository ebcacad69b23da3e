"""`/queue`: the agent's queue (callable now, later, held; `web.queue_reading.read_queue`) and
taking a call task, which claims its borrower (`take_claim`) and opens the case page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain.case_details import human_time
from domain.desk_claims import ClaimRefused
from domain.desk_queue import DeskQueue, QueuedCall
from domain.money import format_money
from web.auth import DeskUser, require_role
from web.context import NavLink, context
from web.queue_reading import read_queue, take_claim
from web.rendering import error_page, render

ROLES = ("agent", "supervisor")
NAV = (NavLink("/queue", "Queue", frozenset(ROLES)),)
router = APIRouter()


def local_time(moment: datetime | None, timezone: str) -> str:
    """A moment on the borrower's clock, as the agent plans the call by it."""
    return "" if moment is None else human_time(moment, timezone)


def utc_time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC"


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request, user: Annotated[DeskUser, Depends(require_role(*ROLES))]
) -> HTMLResponse:
    web = context(request)
    queue = read_queue(web.store, user=user.user_name, now=web.now())
    return render(
        request,
        "queue.html",
        user=user,
        queue=queue,
        money=format_money,
        local_time=local_time,
        utc_time=utc_time,
    )


def _queued(queue: DeskQueue, loan_id: str, attempt_id: str) -> QueuedCall | None:
    for entry in (*queue.callable_now, *queue.later, *queue.held):
        if entry.call.attempt_id == attempt_id and entry.call.loan_id == loan_id:
            return entry.call
    return None


@router.post("/queue/take")
def take_task(
    request: Request,
    user: Annotated[DeskUser, Depends(require_role(*ROLES))],
    loan_id: Annotated[str, Form(max_length=64)],
    attempt_id: Annotated[str, Form(max_length=128)],
) -> Response:
    """Claim the task's borrower and open the case; another agent's live claim is a 409 naming
    them (an expired claim is no claim: `domain.desk_claims` decides)."""
    web = context(request)
    now = web.now()
    call = _queued(read_queue(web.store, user=user.user_name, now=now), loan_id, attempt_id)
    if call is None:
        return error_page(
            request,
            user,
            404,
            "No such task",
            "This call task is no longer in the queue (done, expired or closed).",
        )
    taken = take_claim(
        web.store,
        user=user.user_name,
        borrower_key=call.borrower_key,
        attempt_id=attempt_id,
        loan_id=loan_id,
        now=now,
    )
    if isinstance(taken, ClaimRefused):
        return error_page(
            request, user, 409, "Taken by another agent", f"Not taken: {taken.reason}."
        )
    return RedirectResponse(f"/cases/{loan_id}?attempt={attempt_id}", status_code=303)
