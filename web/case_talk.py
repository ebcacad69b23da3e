"""Talking to a case from a desk page: its database row, its `status`, the claim check, and
sending an update with the desk user as its `source`. What ends a request early is a
`PageRefusal` (404 no open case, 409 another agent's claim, 503 the cases out of reach), shown
as the error page by `refusal_page`: never a stack trace.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from caseclient.messages import CaseNotFound, call_update, query_status, rejection
from domain.desk_claims import refusal
from web.auth import DeskUser
from web.case_page import CaseFacts, open_case
from web.context import WebContext
from web.queue_reading import claim_rows
from web.rendering import render

# How long the page waits for the case: a person is waiting, and a worker that is down is
# better told at once (503) than after the client's default half minute.
ANSWER_SECONDS = 10.0


class PageRefusal(Exception):
    """The request ends on an error page: `status_code` with a heading and plain words."""

    def __init__(self, status_code: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.heading = heading
        self.message = message


def refusal_page(request: Request, user: DeskUser, refused: PageRefusal) -> HTMLResponse:
    return render(
        request,
        "error.html",
        user=user,
        status_code=refused.status_code,
        heading=refused.heading,
        message=refused.message,
    )


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
) -> tuple[bool, dict[str, Any] | str]:
    """(True, the case's answer) or (False, the rejection's words); the desk user is the
    message's `source`."""
    try:
        answer = await call_update(
            await web.client(),
            loan_id,
            update,
            {**arg, "source": user.user_name},
            timeout=ANSWER_SECONDS,
        )
    except WorkflowUpdateFailedError as error:
        return False, rejection(error)[1]
    except CaseNotFound:
        raise no_case(loan_id) from None
    except (RPCError, TimeoutError, RuntimeError):
        raise UNAVAILABLE from None
    return True, answer
