"""Talking to a case from the case page: its database row, its `status`, the claim check, and
sending an update (through `web.case_answers.send`, as every page does). What ends a request
early is a `PageRefusal` (404 no open case, 409 another agent's claim, 503 the cases out of
reach), shown as the error page by `refusal_page`: never a stack trace.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse
from temporalio.service import RPCError

from caseclient.messages import CaseNotFound, query_status
from domain.desk_claims import refusal
from web.auth import DeskUser
from web.case_answers import ANSWER_SECONDS, Came, CaseAnswer, send
from web.case_page import CaseFacts, open_case
from web.context import WebContext
from web.queue_reading import claim_rows
from web.rendering import error_page


class PageRefusal(Exception):
    """The request ends on an error page: `status_code` with a heading and plain words."""

    def __init__(self, status_code: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.heading = heading
        self.message = message


def refusal_page(request: Request, user: DeskUser, refused: PageRefusal) -> HTMLResponse:
    return error_page(request, user, refused.status_code, refused.heading, refused.message)


def no_case(loan_id: str) -> PageRefusal:
    return PageRefusal(404, "No open case", f"There is no open case for loan {loan_id}.")


UNAVAILABLE = PageRefusal(
    503,
    "The cases cannot be reached",
    "The collection service did not answer. Nothing was changed; try again in a minute.",
)


def case_facts(web: WebContext, loan_id: str) -> CaseFacts:
    facts = open_case(web.store, loan_id)
    if facts is None:
        raise no_case(loan_id)
    return facts


async def case_status(web: WebContext, loan_id: str) -> dict[str, Any]:
    """The case's answer to `status`; a closed case is no case for the desk."""
    try:
        status = await query_status(await web.client(), loan_id, timeout=ANSWER_SECONDS)
    except CaseNotFound:
        raise no_case(loan_id) from None
    except (RPCError, TimeoutError, RuntimeError):
        raise UNAVAILABLE from None
    if status.get("stage") == "closed":
        raise no_case(loan_id)
    return status


def guard_claim(web: WebContext, user: DeskUser, facts: CaseFacts) -> None:
    """Refuse (409, nothing sent) while another agent holds the borrower's live claim."""
    refused = refusal(user.user_name, facts.case.borrower_id, claim_rows(web.store), web.now())
    if refused is not None:
        raise PageRefusal(409, "Taken by another agent", f"Nothing was sent: {refused.reason}.")


async def send_update(
    web: WebContext, user: DeskUser, loan_id: str, update: str, arg: dict[str, Any]
) -> CaseAnswer:
    """`web.case_answers.send` for the case page: accepted or refused by the case, or else the
    page's refusal (404 no open case, 503 no answer or the cases out of reach)."""
    sent = await send(web, user.user_name, loan_id, update, arg)
    if sent.came is Came.NO_CASE:
        raise no_case(loan_id)
    if sent.came in (Came.NO_ANSWER, Came.UNAVAILABLE):
        raise UNAVAILABLE
    return sent
