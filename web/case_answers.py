"""Sending a page's action to a case, and showing the case's answer after the redirect: the one
way every desk page does it.

`send` sends one update with the desk user as its `source` and says what came of it as a
`CaseAnswer`, the same for every page: accepted (with the case's own answer), refused by the
case (with its message naming the field at fault), no open case, no answer in time, or the cases
out of reach. Each page chooses what to make of the last three: the case page ends on its
404/503 refusal page (`web.case_talk.refuse_unsent`), the visits and supervisor's pages show the
words of `CaseAnswer.text`.

A form's POST answers 303 back to its page (Post/Redirect/Get); the answer travels to the next
GET in the signed session cookie, never in the URL (no personal data in URLs or logs), and is
shown once (`keep_answer`/`take_answer`, optionally scoped to a key such as the loan id, so one
case page never shows another's answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fastapi import Request
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from caseclient.messages import CaseNotFound, call_update, rejection
from web.context import WebContext

ANSWER_KEY = "answer"
# The cookie carries the answer; a long one is cut so the cookie stays well under 4 KB.
ANSWER_MAX = 500
# How long a page waits for the case: a person is waiting, and a worker that is down is better
# told at once than after the client's default half minute.
ANSWER_SECONDS = 10.0


class Came(Enum):
    """What came of sending an update to a case."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # the case rejected it: nothing changed
    NO_CASE = "no_case"  # closed, or never opened
    NO_ANSWER = "no_answer"  # no answer in time: it may still be recorded (resend is safe)
    UNAVAILABLE = "unavailable"  # Temporal could not be reached


@dataclass(frozen=True)
class CaseAnswer:
    accepted: bool
    text: str
    answer: dict[str, Any] = field(default_factory=dict)  # the case's own answer if accepted
    came: Came | None = None  # None for an answer taken back from the session
    reason: str = ""  # the case's rejection message, when it refused

    @property
    def css(self) -> str:
        return "answer accepted" if self.accepted else "answer rejected"


async def send(
    web: WebContext, source: str, loan_id: str, update: str, arg: dict[str, Any]
) -> CaseAnswer:
    """Send `update` to the case of `loan_id` with `source` (the desk user) added; what came of
    it, with words for people."""
    try:
        answer = await call_update(
            await web.client(), loan_id, update, {**arg, "source": source}, timeout=ANSWER_SECONDS
        )
    except WorkflowUpdateFailedError as error:
        _, message = rejection(error)
        text = f"The case refused it: {message}"
        return CaseAnswer(False, text, came=Came.REFUSED, reason=message)
    except CaseNotFound:
        return CaseAnswer(False, f"Case {loan_id} is closed or does not exist.", came=Came.NO_CASE)
    except TimeoutError:
        # The update may still be recorded; sending the same form again is safe (its id).
        text = f"Case {loan_id} did not answer in time; try again."
        return CaseAnswer(False, text, came=Came.NO_ANSWER)
    except (RPCError, RuntimeError):
        text = "The cases cannot be reached; nothing was changed. Try again in a minute."
        return CaseAnswer(False, text, came=Came.UNAVAILABLE)
    text = f"Case {loan_id} recorded it: {answer.get('status', 'done')}."
    return CaseAnswer(True, text, answer, came=Came.ACCEPTED)


def keep_answer(request: Request, accepted: bool, text: str, *, key: str = "") -> None:
    """Keep the answer for the page the redirect leads to; with `key`, only the page asking
    for that key takes it."""
    request.session[ANSWER_KEY] = {"key": key, "accepted": accepted, "text": text[:ANSWER_MAX]}


def take_answer(request: Request, *, key: str = "") -> CaseAnswer | None:
    """The answer kept by the last POST for `key`, once: a reload does not show it again."""
    kept = request.session.get(ANSWER_KEY)
    if not isinstance(kept, dict) or kept.get("key", "") != key:
        return None
    request.session.pop(ANSWER_KEY, None)
    return CaseAnswer(bool(kept.get("accepted")), str(kept.get("text", "")))
