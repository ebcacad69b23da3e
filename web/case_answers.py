"""Sending a page's action to a case, and showing the case's answer after the redirect.

A form's POST sends one update and answers 303 back to its page (Post/Redirect/Get); the case's
answer travels to the next GET in the signed session cookie, never in the URL (no personal data
in URLs or logs), and is shown once. The answer is words for people: an acceptance, or the
case's rejection naming the field at fault ("outcome: must be one of ...").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from temporalio.client import WorkflowUpdateFailedError

from caseclient.messages import CaseNotFound, call_update, rejection
from web.context import WebContext

ANSWER_KEY = "answer"
# The cookie carries the answer; a long one is cut so the cookie stays well under 4 KB.
ANSWER_MAX = 300
# How long a page waits for a case's answer before saying it may arrive later.
PAGE_ANSWER_TIMEOUT = 20.0


@dataclass(frozen=True)
class CaseAnswer:
    accepted: bool
    text: str
    answer: dict[str, Any]  # the case's own answer when accepted, else empty

    @property
    def css(self) -> str:
        return "answer accepted" if self.accepted else "answer rejected"


async def send(web: WebContext, loan_id: str, update: str, arg: dict[str, Any]) -> CaseAnswer:
    """Send `update` to the case of `loan_id`; its answer, or why there is none, in words."""
    try:
        client = await web.client()
        answer = await call_update(client, loan_id, update, arg, timeout=PAGE_ANSWER_TIMEOUT)
    except WorkflowUpdateFailedError as error:
        _, message = rejection(error)
        return CaseAnswer(False, f"The case refused it: {message}", {})
    except CaseNotFound:
        return CaseAnswer(False, f"Case {loan_id} is closed or does not exist.", {})
    except TimeoutError:
        # The update may still be recorded; sending the same form again is safe (its id).
        return CaseAnswer(False, f"Case {loan_id} did not answer in time; try again.", {})
    return CaseAnswer(True, f"Case {loan_id} recorded it: {answer.get('status', 'done')}.", answer)


def keep_answer(request: Request, accepted: bool, text: str) -> None:
    """Keep the answer for the page the redirect leads to."""
    request.session[ANSWER_KEY] = {"accepted": accepted, "text": text[:ANSWER_MAX]}


def take_answer(request: Request) -> CaseAnswer | None:
    """The answer kept by the last POST, once: a reload does not show it again."""
    kept = request.session.pop(ANSWER_KEY, None)
    if not isinstance(kept, dict):
        return None
    return CaseAnswer(bool(kept.get("accepted")), str(kept.get("text", "")), {})
